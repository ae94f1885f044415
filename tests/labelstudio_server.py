"""A real Label Studio for the annotator tests.

`labelstudio_server` runs `scripts/labelstudio.py up`: it reuses a server that is already running
(`make labelstudio`) and otherwise installs .venv-labelstudio (first time: 1-2 minutes) and starts
one (first time: ~40 s for migrations, later ~5 s). A server this session started is stopped again
at the end, unless FLAWMAP_LABELSTUDIO_KEEP=1.

FLAWMAP_LABELSTUDIO=skip skips the tests that need it; a failed install fails them. Port, data dir and env file follow scripts/labelstudio.py
(FLAWMAP_LABELSTUDIO_PORT, FLAWMAP_LABELSTUDIO_DATA_DIR, FLAWMAP_LABELSTUDIO_ENV_FILE).
"""

import importlib.util
import os
import sys
from pathlib import Path

import pytest

from annotator.server import LabelStudioServer

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "labelstudio.py"


def _load_script():
    module = sys.modules.get("flawmap_labelstudio_script")
    if module is None:
        spec = importlib.util.spec_from_file_location("flawmap_labelstudio_script", SCRIPT)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses in the module look themselves up here
        spec.loader.exec_module(module)
    return module


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
