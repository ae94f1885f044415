"""Random secrets for a local setup: writes FLAWMAP_VAR_DIR/dev-secrets.env once, then leaves it alone.

With DJANGO_DEBUG off Flawmap refuses to start without a real DJANGO_SECRET_KEY and LABEL_STUDIO_WEBHOOK_SECRET
(backend/core/secrets.py). So that `make demo` and `make test` still need nothing on a fresh clone, the Makefile
targets that run the app and the test harness call this first; the settings read the file as their
lowest-priority source (the environment and .env win). Production sets both variables itself.

    python scripts/dev_secrets.py          # prints the file's path
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from backend.config.settings.env import DEV_SECRETS_FILE, read_env_file  # noqa: E402  (after the path)

# 64 and 48 url-safe characters: well past the 50 / 32 the check asks for.
GENERATORS = {
    "DJANGO_SECRET_KEY": lambda: secrets.token_urlsafe(48),
    "LABEL_STUDIO_WEBHOOK_SECRET": lambda: secrets.token_urlsafe(36),
}


def dev_secrets_ensure(path: Path = DEV_SECRETS_FILE) -> dict[str, str]:
    """The file's secrets, writing the file first when it does not exist (never rewriting one that does)."""
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("# Random secrets for this machine's local Flawmap (scripts/dev_secrets.py); not for production.\n")
            f.writelines(f"{name}={make()}\n" for name, make in GENERATORS.items())
        try:
            # A hard link appears complete or not at all and never replaces a file: of two processes starting
            # at once, one writes the file and the other reads it.
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return read_env_file(path)


if __name__ == "__main__":
    dev_secrets_ensure()
    print(DEV_SECRETS_FILE)
