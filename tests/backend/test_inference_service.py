"""POST /api/reward through the inference service: the web side sends the batch to a real Celery worker (threads
pool, as `make inference-worker` runs it) and waits; no worker answering in time is a 503 naming the setting."""

from __future__ import annotations

import os
import threading

import pytest
from django.conf import settings as django_settings
from django.db import connection, connections

from backend.mlmodels.models import ModelVersion
from backend.mlmodels.services import model_promote, model_register
from tests.celery_worker import start_worker, stop_worker, wait_until_ready, worker_env
from tests.conftest import _client, _user, png_bytes, upload
from tests.vlm_support import constant_export, tiny_vlm_base, tiny_vlm_tuned, vlm_demo_export  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)

QUEUE = f"inference-test-{os.getpid()}"


@pytest.fixture
def broker(tasks_on_test_broker):
    """Tasks go to the test Redis, as in production."""


@pytest.fixture(scope="module")
def inference_folders(tmp_path_factory):
    return tmp_path_factory.mktemp("inference-media"), tmp_path_factory.mktemp("inference-model-cache")


@pytest.fixture(scope="module")
def inference_worker(django_db_setup, django_db_blocker, inference_folders):
    """`celery worker --pool threads` on its own queue, the test database and a blob folder the test shares."""
    if not django_settings.CELERY_BROKER_URL or connection.vendor != "postgresql":
        pytest.skip("needs the test Redis and PostgreSQL (scripts/with_test_services.py)")
    media, cache = inference_folders
    env = {**worker_env(connection.settings_dict["NAME"]), "FLAWMAP_MEDIA_ROOT": str(media),
           "FLAWMAP_MODEL_CACHE_DIR": str(cache), "VLM_MAX_NEW_TOKENS": "48"}
    proc = start_worker(env, queues=QUEUE, name="inference-test", pool="threads", concurrency=8)
    wait_until_ready(proc, name="inference-test")
    yield proc
    stop_worker(proc)


@pytest.fixture
def served_models(trained, tiny_vlm_tuned, inference_folders, settings, tmp_path):
    from ml.vlm.package import pack

    media, _ = inference_folders
    backend = {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(media)}}
    settings.STORAGES = {**settings.STORAGES, "default": backend, "blobs": backend}
    settings.FLAWMAP_MODEL_CACHE_DIR = str(tmp_path / "model-cache")
    settings.FLAWMAP_ML_DEVICE = "cpu"
    settings.VLM_MAX_NEW_TOKENS = 48
    segmenter = model_promote(model_version=model_register(
        kind="segmenter", name="unified", checkpoint_path=trained[0] / "best.pth"))
    vlm = model_promote(model_version=model_register(
        kind="vlm", name="vlm", checkpoint_path=pack(tiny_vlm_tuned[0], tmp_path / "vlm.tar")))
    return segmenter, vlm


def post(client, files):
    return client.post("/api/reward", {"images": [upload(name, data) for name, data in files]}, format="multipart")


def test_concurrent_requests_are_answered_by_the_worker_as_in_process(served_models, inference_worker, broker,
                                                                      settings):
    client = _client(_user("reward-caller", "viewer"))
    batches = [[(f"r{r}-{i}.png", png_bytes(48, 40, seed=10 * r + i)) for i in range(r + 1)] for r in range(3)]
    settings.CELERY_TASK_ALWAYS_EAGER = True  # the reference: the same batches scored in this process
    from backend.config.celery import app

    app.conf.task_always_eager = True
    expected = [post(client, files).json()["results"] for files in batches]
    app.conf.task_always_eager = settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.FLAWMAP_INFERENCE_QUEUE, settings.FLAWMAP_INFERENCE_TIMEOUT_SECONDS = QUEUE, 120
    callers = [_client(_user(f"reward-caller-{r}", "viewer")) for r in range(3)]
    answers = {}

    def send(r):  # a client per thread: concurrent requests, as a fine-tuning loop's workers send them
        try:
            answers[r] = post(callers[r], batches[r])
        finally:
            connections.close_all()  # this thread's own connection

    threads = [threading.Thread(target=send, args=(r,)) for r in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    for r in range(3):
        assert answers[r].status_code == 200, answers[r].content
        got = answers[r].json()["results"]
        assert [x["name"] for x in got] == [name for name, _ in batches[r]]
        assert got == expected[r]


def test_no_worker_answering_is_a_503_that_says_what_to_start(broker, settings):
    settings.FLAWMAP_INFERENCE_QUEUE = f"nobody-serves-{os.getpid()}"
    settings.FLAWMAP_INFERENCE_TIMEOUT_SECONDS = 1
    for kind in ("segmenter", "vlm"):  # production rows are enough: the web side never opens a checkpoint
        ModelVersion.objects.create(kind=kind, name=kind, version="1", status="production")
    response = post(_client(_user("reward-caller", "viewer")), [("a.png", png_bytes(16, 16))])
    assert response.status_code == 503
    body = response.json()
    assert "no inference worker answered within 1 s" in body["detail"]
    assert "FLAWMAP_INFERENCE_TIMEOUT_SECONDS" in body["detail"] and body["queue"] == settings.FLAWMAP_INFERENCE_QUEUE


def test_a_bad_image_is_refused_by_the_web_side_before_anything_is_queued(broker, settings):
    settings.FLAWMAP_INFERENCE_QUEUE = f"nobody-serves-{os.getpid()}"
    settings.FLAWMAP_INFERENCE_TIMEOUT_SECONDS = 30  # a queued batch would make this test wait 30 s, then 503
    for kind in ("segmenter", "vlm"):
        ModelVersion.objects.create(kind=kind, name=kind, version="1", status="production")
    response = post(_client(_user("reward-caller", "viewer")),
                    [("good.png", png_bytes(16, 16)), ("cut.png", png_bytes(32, 32)[:60])])
    assert response.status_code == 400 and response.json()["name"] == "cut.png"
