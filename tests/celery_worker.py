"""A real Celery worker process for tests, on the real broker and the test database."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.labelstudio_server import labelstudio_env_file

ROOT = Path(__file__).resolve().parents[1]
WORKER_VAR = ROOT / "var" / "test-worker"
ALL_QUEUES = "default,io,gpu"


def _test_database_url(test_db_name: str) -> str:
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path=f"/{test_db_name}"))


def worker_env(test_db_name: str) -> dict:
    return {
        **os.environ,
        "DATABASE_URL": _test_database_url(test_db_name),
        "FLAWMAP_VAR_DIR": str(WORKER_VAR),
        # the test session's Label Studio: its env file is in the real var folder, not in WORKER_VAR
        "FLAWMAP_LABELSTUDIO_ENV_FILE": str(labelstudio_env_file()),
        # as in-process (tests/conftest.py): only campaigns that set their own threshold retrain
        "RETRAIN_MIN_NEW_LABELS": str(10**9),
        # as in-process: stored passes queue no thumbnail job (the browser's tests opt in)
        "FLAWMAP_THUMBNAIL_JOBS": "false",
        # a killed worker's job is noticed within seconds, not minutes
        "FLAWMAP_JOB_HEARTBEAT_SECONDS": "1",
        # training jobs in tests are smoke runs on the CPU
        "FLAWMAP_SEGMENTER_MAX_ITERS": "2",
        "FLAWMAP_ML_DEVICE": "cpu",
        "CUDA_VISIBLE_DEVICES": "",
    }


def worker_nodename(name: str) -> str:
    """The worker's Celery node name: this test process's pid in it, so two test runs on one broker never share
    one; `wait_until_ready` pings it by this name."""
    return f"{name}-{os.getpid()}@{socket.gethostname()}"


def worker_command(*, queues: str, name: str, pool: str = "solo", concurrency: int | None = None,
                   beat_schedule: Path | None = None, loglevel: str = "WARNING") -> list[str]:
    """`celery worker` on `queues`; with `beat_schedule`, it also runs the embedded beat (the job reaper)."""
    cmd = [sys.executable, "-m", "celery", "-A", "backend.config", "worker", "--pool", pool, "--queues", queues,
           "--without-mingle", "--without-gossip", "--loglevel", loglevel, "--hostname", worker_nodename(name)]
    if concurrency is not None:
        cmd += ["--concurrency", str(concurrency)]
    if beat_schedule is not None:
        cmd += ["--beat", "--schedule", str(beat_schedule)]
    return cmd


def start_worker(env: dict, *, queues: str, name: str, pool: str = "solo", concurrency: int | None = None,
                 beat_schedule: Path | None = None, prefix: Sequence[str] = ()) -> subprocess.Popen:
    """Start a worker (not yet ready: see `wait_until_ready`); `prefix` runs it under a wrapper such as prlimit.

    Its own session, so `kill_hard` reaches what it started (the embedded beat) too."""
    cmd = [*prefix, *worker_command(queues=queues, name=name, pool=pool, concurrency=concurrency,
                                    beat_schedule=beat_schedule)]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def wait_until_ready(proc: subprocess.Popen, *, name: str | None = None, timeout: float = 90) -> None:
    """Ping until the worker answers; fails the test, with its output, if it exits or stays silent.

    With `name` (as given to `start_worker`) only that worker may answer: another one on the same broker (a
    session-wide worker, a test's other worker) would otherwise pass for it."""
    from backend.config.celery import app

    destination = [worker_nodename(name)] if name is not None else None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"celery worker exited with {proc.returncode}:\n{kill_hard(proc)[-3000:]}")
        if app.control.ping(destination=destination, timeout=1.0):
            return
    pytest.fail(f"celery worker did not answer a ping within {timeout} s:\n{kill_hard(proc)[-3000:]}")


def stop_worker(proc: subprocess.Popen, timeout: float = 20) -> str:
    """Warm shutdown (the current task runs to its end), SIGKILL after `timeout`; returns what it wrote."""
    proc.terminate()
    try:
        # communicate, not wait: a worker blocked on a full output pipe would never exit
        return proc.communicate(timeout=timeout)[0] or ""
    except subprocess.TimeoutExpired:
        return kill_hard(proc)


def kill_hard(proc: subprocess.Popen) -> str:
    """SIGKILL the process and everything it started (needs its own session): no cleanup, no acknowledgement.

    Returns what it wrote to its pipe ("" when its output went elsewhere)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return proc.communicate(timeout=30)[0] or ""


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker):
    """Start `celery worker` once per session; yields a function that enables it for one test."""
    from django.conf import settings
    from django.db import connection

    if not settings.CELERY_BROKER_URL:
        pytest.skip("CELERY_BROKER_URL is not set: run through `make test`, which starts Redis")
    if connection.vendor != "postgresql":
        pytest.skip("the worker test needs the PostgreSQL test database")
    env = worker_env(connection.settings_dict["NAME"])
    proc = start_worker(env, queues=ALL_QUEUES, name="flawmap-test")
    wait_until_ready(proc, name="flawmap-test", timeout=60)
    yield proc
    stop_worker(proc)


@pytest.fixture
def use_celery_worker(celery_worker, settings):
    """Send tasks to the real worker in this test instead of running them in-process.

    The test then reads and writes blobs where the worker does (an empty folder per test).
    """
    from backend.config.celery import app

    media = WORKER_VAR / "media"
    shutil.rmtree(media, ignore_errors=True)
    backend = {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(media)}}
    settings.STORAGES = {**settings.STORAGES, "default": backend, "blobs": backend}
    settings.CELERY_TASK_ALWAYS_EAGER = False
    app.conf.task_always_eager = False
    return celery_worker


@pytest.fixture
def tasks_on_test_broker(settings):
    """Tasks go to the test Redis and wait there for whoever serves their queue (the suite runs them in-process
    otherwise); no worker is started."""
    from django.conf import settings as django_settings

    from backend.config.celery import app

    if not django_settings.CELERY_BROKER_URL:
        pytest.skip("needs CELERY_BROKER_URL (run through scripts/with_test_services.py, as `make test` does)")
    settings.CELERY_TASK_ALWAYS_EAGER = False
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = False
    yield
    app.conf.task_always_eager = previous
