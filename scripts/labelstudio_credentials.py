"""The admin login of the local Label Studio and the private KEY=VALUE files it and the token are kept in.

Part of scripts/labelstudio.py.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from labelstudio_settings import DEFAULT_USERNAME


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str


def _read_kv(path: Path) -> dict[str, str]:
    out = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                key, value = line.split("=", 1)
                out[key.strip()] = value.strip()
    return out


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def credentials(data_dir: Path) -> Credentials:
    """Admin login: LABEL_STUDIO_USERNAME/PASSWORD from the environment, else the data dir's
    credentials.env, else admin@flawmap.local with a generated password (then saved there)."""
    path = data_dir / "credentials.env"
    saved = _read_kv(path)
    username = os.environ.get("LABEL_STUDIO_USERNAME") or saved.get("LABEL_STUDIO_USERNAME") or DEFAULT_USERNAME
    password = (os.environ.get("LABEL_STUDIO_PASSWORD") or saved.get("LABEL_STUDIO_PASSWORD")
                or secrets.token_urlsafe(18))
    # Label Studio lower-cases the e-mail at login.
    creds = Credentials(username.strip().lower(), password)
    if not saved:
        _write_private(path, f"LABEL_STUDIO_USERNAME={creds.username}\nLABEL_STUDIO_PASSWORD={creds.password}\n")
    return creds
