"""Fault-injection fixtures: a private Redis the test may stop and start, the in-process Celery app pointed at
it, and the environment of real workers (started by tests/celery_worker.py) on the test database.

The machine's Redis and the session's test Redis are never touched: each test gets its own redis-server."""

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.celery_worker import worker_env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateRedis:
    def __init__(self, workdir: Path) -> None:
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None


@pytest.fixture
def private_redis(tmp_path):
    redis = PrivateRedis(tmp_path)
    redis.start()
    yield redis
    redis.stop()


def _point_app_at(url: str, result_backend: str) -> None:
    from backend.config.celery import app

    app.conf.broker_url = url
    app.conf.result_backend = result_backend
    # Connections and producers are pooled per app; the next send opens them on the new URL.
    app._pool = None
    app.amqp._producer_pool = None
    app._local.__dict__.pop("backend", None)


@pytest.fixture
def on_private_broker(private_redis, settings, monkeypatch):
    """Queue jobs on the private Redis (not in-process) for this test."""
    from backend.config.celery import app

    before = (app.conf.broker_url, app.conf.result_backend)
    settings.CELERY_TASK_ALWAYS_EAGER = False
    app.conf.task_always_eager = False
    monkeypatch.setenv("CELERY_BROKER_URL", private_redis.url)  # Celery reads the variable before its conf
    _point_app_at(private_redis.url, private_redis.url)
    yield private_redis
    monkeypatch.undo()
    _point_app_at(*before)


@pytest.fixture
def fault_dirs(tmp_path, settings, blob_dir):
    """Where the test and its workers share blobs, exports and training scratch folders."""
    dirs = {"media": blob_dir, "exports": tmp_path / "exports", "work": tmp_path / "work"}
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    settings.FLAWMAP_EXPORT_DIR = str(dirs["exports"])
    return dirs


def fault_worker_env(redis: PrivateRedis, dirs: dict, **extra: str) -> dict:
    from django.db import connection

    env = worker_env(connection.settings_dict["NAME"])
    env.update({
        "CELERY_BROKER_URL": redis.url, "CELERY_RESULT_BACKEND": redis.url,
        "FLAWMAP_MEDIA_ROOT": str(dirs["media"]), "FLAWMAP_EXPORT_DIR": str(dirs["exports"]),
        "FLAWMAP_TRAIN_WORK_DIR": str(dirs["work"]),
    })
    env.update(extra)
    return env


def wait_for(predicate, *, timeout: float, what: str, every: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(every)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")
