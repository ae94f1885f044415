"""Install label-studio into its own virtualenv (.venv-labelstudio) and say which version is there.

Part of scripts/labelstudio.py (`install`).
"""

from __future__ import annotations

import os
import subprocess
import time

from labelstudio_settings import (
    LABEL_STUDIO_VERSION,
    LS_BIN,
    REQUIREMENT,
    ROOT,
    STAMP,
    VENV,
    VENV_PY,
    InstallError,
    LabelStudioError,
    log,
)


def installed_version() -> str | None:
    """The version the stamp file vouches for, or None when the venv is missing or stale."""
    if not (STAMP.is_file() and LS_BIN.exists() and VENV_PY.exists()):
        return None
    stamped = STAMP.read_text().strip()
    return stamped.split("==", 1)[1] if stamped.startswith("label-studio==") else None


def install(force: bool = False, python: str | None = None) -> None:
    """Create .venv-labelstudio and install label-studio into it; a no-op when already done."""
    if not force and installed_version() == LABEL_STUDIO_VERSION:
        log(f"{REQUIREMENT} already installed in {VENV.relative_to(ROOT)}")
        return
    python = python or os.environ.get("FLAWMAP_LABELSTUDIO_PYTHON") or "python3"
    started = time.monotonic()
    if not VENV_PY.exists():
        log(f"creating {VENV.relative_to(ROOT)} with {python}")
        _run([python, "-m", "venv", str(VENV)], InstallError)
    STAMP.unlink(missing_ok=True)
    log(f"pip install {REQUIREMENT} (takes a minute or two)")
    pip = [str(VENV_PY), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    _run(pip + [REQUIREMENT], InstallError)
    if force:  # repair label-studio's own files, keeping its dependencies
        _run(pip + ["--force-reinstall", "--no-deps", REQUIREMENT], InstallError)
    got = _run([str(VENV_PY), "-c", "import importlib.metadata as m; print(m.version('label-studio'))"],
               InstallError).strip()
    if got != LABEL_STUDIO_VERSION or not LS_BIN.exists():
        raise InstallError(f"expected label-studio {LABEL_STUDIO_VERSION} in {VENV}, found {got!r}")
    STAMP.write_text(REQUIREMENT + "\n")
    log(f"installed {REQUIREMENT} in {time.monotonic() - started:.0f} s")


def _run(cmd: list[str], error: type[LabelStudioError]) -> str:
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    if proc.returncode != 0:
        lines = [ln for ln in proc.stdout.splitlines() if "is ignored: it is neither a file" not in ln]
        tail = "\n".join(lines[-30:])
        raise error(f"`{' '.join(cmd)}` failed with exit code {proc.returncode}:\n{tail}")
    return proc.stdout
