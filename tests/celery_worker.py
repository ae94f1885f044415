"""A real Celery worker process for tests, on the real broker and the test database."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.labelstudio_server import labelstudio_env_file

ROOT = Path(__file__).resolve().parents[1]
WORKER_VAR = ROOT / "var" / "test-worker"


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


def start_worker(env: dict, *, queues: str, name: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "backend.config", "worker", "--pool", "solo",
         "--queues", queues, "--without-mingle", "--without-gossip", "--loglevel", "WARNING",
         "--hostname", f"{name}@%h"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


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
    proc = start_worker(env, queues="default,io,gpu", name=f"flawmap-test-{os.getpid()}")
    from backend.config.celery import app

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"celery worker exited with {proc.returncode}:\n{proc.stdout.read()}")
        if app.control.ping(timeout=1.0):
            break
    else:
        proc.kill()
        pytest.fail("celery worker did not answer a ping within 60 s")
    yield proc
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()


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
