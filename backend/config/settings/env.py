"""The one `environ.Env` instance all settings modules share; reads `.env` once if present."""

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
