"""A real Label Studio for the annotator tests.

`labelstudio_server` runs `scripts/labelstudio.py up`: it reuses a server that is already running
(`make labelstudio`) and otherwise installs .venv-labelstudio (first time: 1-2 minutes) and starts
one (first time: ~40 s for migrations, later ~5 s). A server this session started is stopped again
at the end, unless FLAWMAP_LABELSTUDIO_KEEP=1.

FLAWMAP_LABELSTUDIO=skip skips the tests that need it; a failed install fails them. Port, data dir and env file
follow scripts/labelstudio.py (FLAWMAP_LABELSTUDIO_PORT, FLAWMAP_LABELSTUDIO_DATA_DIR, FLAWMAP_LABELSTUDIO_ENV_FILE).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from backend.config.settings.env import read_env_file

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "labelstudio.py"


@dataclass(frozen=True)
class LabelStudioServer:
    url: str
    api_key: str = field(repr=False)

    def __post_init__(self):
        object.__setattr__(self, "url", self.url.rstrip("/"))

    @classmethod
    def from_env_file(cls, path: str | os.PathLike | None = None) -> LabelStudioServer:
        """Load var/labelstudio.env (or `path`)."""
        path = Path(path) if path is not None else _load_script().DEFAULT_ENV_FILE
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} does not exist; start Label Studio with `.venv/bin/python scripts/labelstudio.py up`")
        values = read_env_file(path)
        missing = [k for k in ("LABEL_STUDIO_URL", "LABEL_STUDIO_API_KEY") if not values.get(k)]
        if missing:
            raise ValueError(f"{path} lacks {', '.join(missing)}")
        return cls(url=values["LABEL_STUDIO_URL"], api_key=values["LABEL_STUDIO_API_KEY"])

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None,
                 path: str | os.PathLike | None = None) -> LabelStudioServer:
        """LABEL_STUDIO_URL / LABEL_STUDIO_API_KEY from the environment when both are set, else the env file."""
        environ = os.environ if environ is None else environ
        if environ.get("LABEL_STUDIO_URL") and environ.get("LABEL_STUDIO_API_KEY"):
            return cls(url=environ["LABEL_STUDIO_URL"], api_key=environ["LABEL_STUDIO_API_KEY"])
        return cls.from_env_file(path)


def _load_script():
    module = sys.modules.get("flawmap_labelstudio_script")
    if module is None:
        spec = importlib.util.spec_from_file_location("flawmap_labelstudio_script", SCRIPT)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses in the module look themselves up here
        spec.loader.exec_module(module)
    return module


def labelstudio_env_file() -> Path:
    """Where `scripts/labelstudio.py up` writes the URL and token of the session's server."""
    return _load_script().DEFAULT_ENV_FILE


@pytest.fixture(scope="session")
def labelstudio_script():
    """scripts/labelstudio.py as a module (install/start/token/up/stop/...)."""
    return _load_script()


@pytest.fixture(scope="session")
def labelstudio_server(labelstudio_script) -> LabelStudioServer:
    """URL and personal access token of a running local Label Studio (see module docstring)."""
    if os.environ.get("FLAWMAP_LABELSTUDIO", "").lower() in {"skip", "0", "off", "false", "no"}:
        pytest.skip("FLAWMAP_LABELSTUDIO=skip: not starting Label Studio")
    ls = labelstudio_script
    was_running = ls.is_running(ls.DEFAULT_DATA_DIR)
    try:
        url, api_key = ls.up(ls.DEFAULT_PORT, ls.DEFAULT_DATA_DIR, ls.DEFAULT_ENV_FILE)
    except ls.LabelStudioError as exc:  # includes a failed install: a broken setup must not pass as a skip
        pytest.fail(f"`scripts/labelstudio.py up` failed: {exc}", pytrace=False)
    yield LabelStudioServer(url=url, api_key=api_key)
    # Under pytest-xdist other workers may still use the server: leave it to the caller then.
    keep = os.environ.get("FLAWMAP_LABELSTUDIO_KEEP") or os.environ.get("PYTEST_XDIST_WORKER")
    if not was_running and not keep:
        ls.stop(ls.DEFAULT_DATA_DIR)
