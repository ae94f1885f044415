"""Where the local Label Studio lives and how it is reached: version, paths, defaults, errors, the log line.

Part of scripts/labelstudio.py (see its docstring). The defaults read FLAWMAP_VAR_DIR and
FLAWMAP_LABELSTUDIO_PORT / _DATA_DIR / _ENV_FILE when this module is imported.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LABEL_STUDIO_VERSION = "1.23.2"
REQUIREMENT = f"label-studio=={LABEL_STUDIO_VERSION}"
VENV = ROOT / ".venv-labelstudio"
VENV_PY = VENV / "bin" / "python"
LS_BIN = VENV / "bin" / "label-studio"
STAMP = VENV / ".flawmap-installed"



def _setting(name: str) -> str:
    """A variable from the environment, else from the project's .env, as the Django settings read them (the real
    environment wins; .env lines are KEY=value)."""
    if os.environ.get(name):
        return os.environ[name]
    dotenv = ROOT / ".env"
    if dotenv.is_file():
        for line in dotenv.read_text().splitlines():
            key, sep, value = line.strip().removeprefix("export ").partition("=")
            if sep and key.strip() == name:
                return value.strip().strip("'\"")
    return ""


HOST = "127.0.0.1"
DEFAULT_PORT = int(_setting("FLAWMAP_LABELSTUDIO_PORT") or 8089)
# Flawmap's runtime folder (FLAWMAP_VAR_DIR, default var/), like the Django settings'.
VAR_DIR = Path(_setting("FLAWMAP_VAR_DIR") or ROOT / "var")
DEFAULT_DATA_DIR = Path(_setting("FLAWMAP_LABELSTUDIO_DATA_DIR") or VAR_DIR / "labelstudio")
DEFAULT_ENV_FILE = Path(_setting("FLAWMAP_LABELSTUDIO_ENV_FILE") or VAR_DIR / "labelstudio.env")
DEFAULT_USERNAME = "admin@flawmap.local"
START_TIMEOUT = 180.0
TOKEN_CHECK_PATIENCE = 60.0  # seconds of unclear answers before giving up on a token check

# The command line users run; error messages name it (this module is only a part of it).
SCRIPT_NAME = "labelstudio.py"


class LabelStudioError(RuntimeError):
    """A step failed; the message says what to do."""


class InstallError(LabelStudioError):
    """`pip install label-studio` failed (typically: no package index reachable)."""


def log(msg: str) -> None:
    print(f"[labelstudio] {msg}", file=sys.stderr, flush=True)
