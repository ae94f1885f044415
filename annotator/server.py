"""Where the Label Studio server is and how to authenticate to it.

`scripts/labelstudio.py up` (or `make labelstudio`) starts a local Label Studio and writes
labelstudio.env in the var folder (FLAWMAP_VAR_DIR, default var/):

    LABEL_STUDIO_URL=http://127.0.0.1:8089
    LABEL_STUDIO_API_KEY=<personal access token>

The API key is a Label Studio personal access token: a JWT *refresh* token. Clients exchange it
at POST {url}/api/token/refresh/ {"refresh": api_key} for a short-lived access token and send
`Authorization: Bearer <access>`; `label_studio_sdk.LabelStudio(base_url=url, api_key=api_key)`
does that by itself. This module only locates the settings; it imports no Label Studio code.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The same rule as scripts/labelstudio.py, which writes the file: FLAWMAP_LABELSTUDIO_ENV_FILE, else
# labelstudio.env in FLAWMAP_VAR_DIR (default var/).
DEFAULT_ENV_FILE = Path(os.environ.get("FLAWMAP_LABELSTUDIO_ENV_FILE")
                        or Path(os.environ.get("FLAWMAP_VAR_DIR") or ROOT / "var") / "labelstudio.env")


def read_env_file(path: str | os.PathLike) -> dict[str, str]:
    """Parse KEY=VALUE lines (blank lines, `#` comments, `export ` and surrounding quotes allowed)."""
    values: dict[str, str] = {}
    for raw in Path(path).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        key, sep, value = line.partition("=")
        if not sep:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


@dataclass(frozen=True)
class LabelStudioServer:
    url: str
    api_key: str = field(repr=False)

    def __post_init__(self):
        object.__setattr__(self, "url", self.url.rstrip("/"))

    @classmethod
    def from_env_file(cls, path: str | os.PathLike | None = None) -> LabelStudioServer:
        """Load var/labelstudio.env (or `path`)."""
        path = Path(path) if path is not None else DEFAULT_ENV_FILE
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
