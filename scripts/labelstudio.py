"""Run a local Label Studio for Flawmap development and tests.

    .venv/bin/python scripts/labelstudio.py up       # install + start + token (idempotent)
    .venv/bin/python scripts/labelstudio.py install  # .venv-labelstudio with label-studio==1.23.2
    .venv/bin/python scripts/labelstudio.py start [--port 8089] [--data-dir var/labelstudio]
    .venv/bin/python scripts/labelstudio.py token [--rotate]   # writes var/labelstudio.env
    .venv/bin/python scripts/labelstudio.py status
    .venv/bin/python scripts/labelstudio.py stop

Label Studio pins its own Django and friends, so it lives in its own virtualenv
(`.venv-labelstudio`) and never touches the project's `.venv`. The server is for local
development and tests only: it listens on 127.0.0.1, uses SQLite under the data dir and runs
with `SSRF_PROTECTION_ENABLED=false` so that it may call webhooks on loopback.

Files under the data dir (default labelstudio/ in FLAWMAP_VAR_DIR, itself var/ by default):
    label_studio.sqlite3, media/, ...   Label Studio's own data (its SECRET_KEY signs the tokens)
    credentials.env   admin login (LABEL_STUDIO_USERNAME / LABEL_STUDIO_PASSWORD), mode 0600
    server.json       pid, port and URL of the running server
    server.log        the server's stdout/stderr

Authentication (Label Studio >= 1.18): legacy `Token` keys are disabled per organization, so
`token` logs in through the session form and mints a personal access token (PAT) with
POST /api/token/. A PAT is a long-lived JWT *refresh* token: clients exchange it at
POST /api/token/refresh/ {"refresh": PAT} -> {"access": ...} and send
`Authorization: Bearer <access>`; this is what `label_studio_sdk.LabelStudio(api_key=PAT)` does.
The PAT and the server URL go to labelstudio.env beside the data dir as LABEL_STUDIO_URL / LABEL_STUDIO_API_KEY.

Defaults can be changed with FLAWMAP_LABELSTUDIO_PORT, FLAWMAP_LABELSTUDIO_DATA_DIR and
FLAWMAP_LABELSTUDIO_ENV_FILE; the admin login with LABEL_STUDIO_USERNAME / LABEL_STUDIO_PASSWORD
(only used when the data dir's user is first created). Functions here are importable (the
pytest fixture in tests/labelstudio_server.py calls `up`).

This file is the command line, `up` and `status`; the work is done by its sibling modules, whose
names it re-exports:
    labelstudio_settings.py     version, paths, defaults, errors, the log line
    labelstudio_install.py      install / installed_version (.venv-labelstudio)
    labelstudio_credentials.py  the admin login and the private KEY=VALUE files
    labelstudio_process.py      start / stop / is_running / healthy, server.json
    labelstudio_token.py        token / verify_token / create_token, labelstudio.env
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

# The parts live beside this file as top-level modules. Their folder goes on sys.path so that this file
# also imports them when it is loaded by path (tests/labelstudio_server.py does). Each load of this file
# imports them afresh, so the defaults read FLAWMAP_VAR_DIR / FLAWMAP_LABELSTUDIO_* at that moment, as
# they did when everything was in this one file.
_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
_PARTS = ("labelstudio_settings", "labelstudio_install", "labelstudio_credentials", "labelstudio_process",
          "labelstudio_token")
for _part in _PARTS:
    sys.modules.pop(_part, None)

from labelstudio_credentials import Credentials, _read_kv, credentials  # noqa: E402
from labelstudio_install import install, installed_version  # noqa: E402
from labelstudio_process import _pid_is_label_studio, healthy, is_running, read_state, server_env, start, stop, url_for  # noqa: E402
from labelstudio_settings import (  # noqa: E402
    DEFAULT_DATA_DIR,
    DEFAULT_ENV_FILE,
    DEFAULT_PORT,
    DEFAULT_USERNAME,
    HOST,
    LABEL_STUDIO_VERSION,
    LS_BIN,
    REQUIREMENT,
    ROOT,
    STAMP,
    START_TIMEOUT,
    TOKEN_CHECK_PATIENCE,
    VAR_DIR,
    VENV,
    VENV_PY,
    InstallError,
    LabelStudioError,
    log,
)
from labelstudio_token import TokenCheck, check_token, create_token, token, verify_token, write_env_file  # noqa: E402

__all__ = [
    # settings
    "ROOT", "LABEL_STUDIO_VERSION", "REQUIREMENT", "VENV", "VENV_PY", "LS_BIN", "STAMP", "HOST", "DEFAULT_PORT",
    "VAR_DIR", "DEFAULT_DATA_DIR", "DEFAULT_ENV_FILE", "DEFAULT_USERNAME", "START_TIMEOUT", "TOKEN_CHECK_PATIENCE",
    "LabelStudioError", "InstallError", "log",
    # install, credentials, server process, token
    "installed_version", "install", "Credentials", "credentials", "read_state", "url_for", "healthy",
    "server_env", "start", "stop", "is_running", "TokenCheck", "check_token", "verify_token", "create_token",
    "write_env_file", "token",
    # this file
    "up", "status", "main",
]


@contextlib.contextmanager
def _exclusive(data_dir: Path):
    """Serialise `up` across processes (e.g. pytest-xdist workers) so only one starts the server
    and mints a token; the others then find both ready."""
    import fcntl

    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / ".up.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def up(port: int = DEFAULT_PORT, data_dir: Path = DEFAULT_DATA_DIR, env_file: Path = DEFAULT_ENV_FILE,
       timeout: float = START_TIMEOUT) -> tuple[str, str]:
    """install + start + token; returns (url, api_key). Idempotent and safe to call concurrently."""
    with _exclusive(data_dir):
        install()
        url = start(port, data_dir, timeout)
        return token(url, data_dir, env_file)


def status(data_dir: Path = DEFAULT_DATA_DIR, env_file: Path = DEFAULT_ENV_FILE) -> bool:
    data_dir = Path(data_dir).resolve()
    print(f"install:  {REQUIREMENT if installed_version() else 'not installed'} ({VENV})")
    state = read_state(data_dir)
    running = bool(state) and _pid_is_label_studio(state["pid"])
    if not running:
        print(f"server:   not running (data dir {data_dir})")
        return False
    up_ = healthy(state["url"])
    print(f"server:   {'healthy' if up_ else 'NOT answering'} at {state['url']} (pid {state['pid']}, "
          f"log {state['log']})")
    key = _read_kv(Path(env_file)).get("LABEL_STUDIO_API_KEY")
    if key:
        ok = up_ and verify_token(state["url"], key)
        print(f"token:    {env_file} ({'valid' if ok else 'INVALID: run `token`'})")
    else:
        print(f"token:    none ({env_file} missing; run `token`)")
    return up_


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, help_: str, port=False, env=False):
        p = sub.add_parser(name, help=help_)
        p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help=f"default {DEFAULT_DATA_DIR}")
        if port:
            p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}")
            p.add_argument("--timeout", type=float, default=START_TIMEOUT, help="seconds to wait for /health/")
        if env:
            p.add_argument("--env-file", type=Path, default=DEFAULT_ENV_FILE, help=f"default {DEFAULT_ENV_FILE}")
        return p

    p_install = sub.add_parser("install", help=f"create {VENV.name} with {REQUIREMENT}")
    p_install.add_argument("--force", action="store_true",
                           help="reinstall label-studio even when the stamp file is current")
    add("start", "start the server in the background and wait until it is healthy", port=True)
    p_token = add("token", "mint a personal access token and write the env file", env=True)
    p_token.add_argument("--url", help="server URL (default: the one recorded in the data dir)")
    p_token.add_argument("--rotate", action="store_true", help="replace the token even when it still works")
    add("up", "install + start + token", port=True, env=True)
    add("stop", "stop the server")
    add("status", "show install/server/token state (exit 3 when not running)", env=True)
    args = parser.parse_args(argv)

    try:
        if args.command == "install":
            install(force=args.force)
        elif args.command == "start":
            print(start(args.port, args.data_dir, args.timeout))
        elif args.command == "token":
            token(args.url, args.data_dir, args.env_file, rotate=args.rotate)
            print(args.env_file)
        elif args.command == "up":
            url, _ = up(args.port, args.data_dir, args.env_file, args.timeout)
            creds = _read_kv(Path(args.data_dir).resolve() / "credentials.env")
            print(f"Label Studio: {url}  (login {creds.get('LABEL_STUDIO_USERNAME')}, password in "
                  f"{Path(args.data_dir) / 'credentials.env'})")
            print(f"API env file: {args.env_file}  (LABEL_STUDIO_URL, LABEL_STUDIO_API_KEY)")
        elif args.command == "stop":
            stop(args.data_dir)
        elif args.command == "status":
            return 0 if status(args.data_dir, args.env_file) else 3
    except LabelStudioError as exc:
        print(f"[labelstudio] error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
