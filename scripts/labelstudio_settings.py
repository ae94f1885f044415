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

HOST = "127.0.0.1"
DEFAULT_PORT = int(os.environ.get("FLAWMAP_LABELSTUDIO_PORT") or 8089)
# Flawmap's runtime folder (FLAWMAP_VAR_DIR, default var/), like the Django settings'.
VAR_DIR = Path(os.environ.get("FLAWMAP_VAR_DIR") or ROOT / "var")
DEFAULT_DATA_DIR = Path(os.environ.get("FLAWMAP_LABELSTUDIO_DATA_DIR") or VAR_DIR / "labelstudio")
DEFAULT_ENV_FILE = Path(os.environ.get("FLAWMAP_LABELSTUDIO_ENV_FILE") or VAR_DIR / "labelstudio.env")
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
