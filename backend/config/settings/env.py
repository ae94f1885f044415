"""The one `environ.Env` instance all settings modules share; reads `.env` once if present."""

import os
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parents[3]

env = environ.Env()
_dotenv = BASE_DIR / ".env"
if _dotenv.is_file():
    # Real environment variables win over the file (overwrite=False is the default).
    environ.Env.read_env(str(_dotenv))

# Runtime state (SQLite db, local blobs, test servers) lives here; it is git-ignored.
# (An empty value counts as unset, so a copied .env.example keeps the defaults.)
VAR_DIR = Path(env.str("FLAWMAP_VAR_DIR", default="") or BASE_DIR / "var")
# Random local secrets that `make` and the test harness write once (scripts/dev_secrets.py): the settings' last
# source for DJANGO_SECRET_KEY and LABEL_STUDIO_WEBHOOK_SECRET, after the environment and .env.
DEV_SECRETS_FILE = VAR_DIR / "dev-secrets.env"


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


def dev_secret(name: str) -> str:
    """`name` from the environment (or .env), else from DEV_SECRETS_FILE, else ""."""
    value = env.str(name, default="")
    if not value and DEV_SECRETS_FILE.is_file():
        value = read_env_file(DEV_SECRETS_FILE).get(name, "")
    return value
