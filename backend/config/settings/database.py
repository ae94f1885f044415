from urllib.parse import unquote

from backend.config.settings.env import VAR_DIR, env

# PostgreSQL in production and tests; SQLite only as the embedded default for the demo.
_url = env.str("DATABASE_URL", default="")
if not _url:
    # The embedded default lives in VAR_DIR, which a fresh clone (or a new FLAWMAP_VAR_DIR) does not have yet:
    # SQLite creates the file but not its folder, so the first `migrate` would fail without this.
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    _url = f"sqlite:///{VAR_DIR / 'flawmap.sqlite3'}"
DATABASES = {"default": env.db_url_config(_url)}
# A Unix-socket directory travels percent-encoded in the URL's host part; psycopg wants the path.
DATABASES["default"]["HOST"] = unquote(DATABASES["default"].get("HOST") or "")
# Reusing connections saves a new PostgreSQL backend (and its start-up milliseconds) per request.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The demo runs web + in-process tasks on one file; wait instead of failing on a lock.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
