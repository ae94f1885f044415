"""The fast webhook ingress (a real uvicorn process on loopback, a real Redis) and the stream drain."""

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis
import requests

from annotator.models import WebhookEvent
from annotator.services import stream as stream_service
from backend.annotations.models import Annotation, MaskLabel
from tests.annotator.test_intake import campaign, payload, task  # noqa: F401  (fixtures)

ROOT = Path(__file__).resolve().parents[2]
SECRET = "ingress-test-secret-of-at-least-32-characters"  # the ingress refuses shorter ones
PATH = "/api/labelstudio/webhook/"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _redis_url() -> str:
    return os.environ.get("CELERY_BROKER_URL") or "redis://127.0.0.1:6379/0"


def _start_ingress(stream: str, redis_url: str, max_bytes: int = 100_000,
                   maxlen: int = 100_000) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {**os.environ, "LABEL_STUDIO_WEBHOOK_SECRET": SECRET, "FLAWMAP_WEBHOOK_STREAM_URL": redis_url,
           "FLAWMAP_WEBHOOK_STREAM": stream, "FLAWMAP_WEBHOOK_MAX_BYTES": str(max_bytes),
           "FLAWMAP_WEBHOOK_STREAM_MAXLEN": str(maxlen)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "annotator.webhook_ingress:app", "--host", "127.0.0.1", "--port", str(port),
         "--loop", "uvloop", "--http", "httptools", "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"ingress exited: {proc.stdout.read().decode()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, url
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("ingress did not start")


@pytest.fixture
def stream_name(settings):
    name = f"flawmap:test-webhooks:{uuid.uuid4().hex}"
    settings.FLAWMAP_WEBHOOK_STREAM_URL = _redis_url()
    settings.FLAWMAP_WEBHOOK_STREAM = name
    client = redis.Redis.from_url(_redis_url())
    yield name
    client.delete(name)


@pytest.fixture
def ingress(stream_name):
    proc, url = _start_ingress(stream_name, _redis_url())
    yield url
    proc.terminate()
    proc.wait(10)


def _post(url, body, secret=SECRET, method="POST"):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return requests.request(method, f"{url}{PATH}", data=data, timeout=10,
                            headers={"X-Flawmap-Webhook-Secret": secret, "Content-Type": "application/json"})


def test_the_ingress_queues_only_authentic_well_formed_deliveries(ingress, stream_name):
    queue = redis.Redis.from_url(_redis_url())
    good = {"action": "ANNOTATION_CREATED", "annotation": {"id": 1}}
    assert _post(ingress, good, secret="wrong").status_code == 403
    assert _post(ingress, good, secret="").status_code == 403
    bad_json = _post(ingress, b"{not json")
    assert bad_json.status_code == 400 and bad_json.json()["detail"] == "body is not JSON"
    assert _post(ingress, {"annotation": {}}).json()["detail"] == "payload needs an action"
    assert _post(ingress, ["a", "list"]).status_code == 400
    too_big = _post(ingress, {"action": "ANNOTATION_CREATED", "pad": "x" * 200_000})
    assert too_big.status_code == 413 and "100000 bytes" in too_big.json()["detail"]
    assert _post(ingress, good, method="GET").status_code == 405
    assert requests.post(ingress + "/elsewhere", timeout=10).status_code == 404
    assert queue.xlen(stream_name) == 0  # nothing above was queued

    answer = _post(ingress, good)
    assert answer.status_code == 200
    ((entry_id, fields),) = queue.xrange(stream_name)
    assert answer.json() == {"queued": entry_id.decode()}
    assert json.loads(fields[b"payload"]) == good


def test_an_unreachable_queue_answers_503(stream_name):
    proc, url = _start_ingress(stream_name, f"redis://127.0.0.1:{_free_port()}/0")
    try:
        answer = _post(url, {"action": "ANNOTATION_CREATED"})
        assert answer.status_code == 503 and "unavailable" in answer.json()["detail"]
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.django_db
def test_drained_deliveries_are_stored_once_and_converted(ingress, stream_name, task,
                                                         django_capture_on_commit_callbacks):
    body = payload(task, ann_id=11)
    assert _post(ingress, body).status_code == 200
    assert _post(ingress, body).status_code == 200  # Label Studio's replay of the same delivery
    with django_capture_on_commit_callbacks(execute=True):
        report = stream_service.webhook_stream_drain(block_ms=None)
    assert (report.recorded, report.duplicates, report.rejected) == (2, 0, 0)
    events = list(WebhookEvent.objects.order_by("id"))
    assert [e.status for e in events] == ["processed", "skipped"]
    assert all(e.delivery_id for e in events)
    annotation = Annotation.objects.get()
    assert annotation.lead_time == 33.0 and MaskLabel.objects.filter(annotation=annotation).count() == 1
    assert stream_service.webhook_stream_backlog() == 0  # acknowledged entries are deleted


@pytest.mark.django_db
def test_an_entry_a_dead_drainer_recorded_but_never_acknowledged_is_not_stored_twice(
        ingress, stream_name, task, django_capture_on_commit_callbacks):
    queue = redis.Redis.from_url(_redis_url())
    assert _post(ingress, payload(task, ann_id=12)).status_code == 200
    stream_service._ensure_group(queue, stream_name)
    ((_, ((entry_id, fields),)),) = queue.xreadgroup(stream_service.GROUP, "dead", {stream_name: ">"})
    with django_capture_on_commit_callbacks(execute=True):
        stream_service._record(entry_id.decode(), fields)  # ... and then the drainer died before XACK
    with django_capture_on_commit_callbacks(execute=True):
        report = stream_service.webhook_stream_drain(block_ms=None, claim_idle_ms=0)
    assert (report.recorded, report.duplicates) == (0, 1)
    assert WebhookEvent.objects.count() == 1 and Annotation.objects.count() == 1
    assert stream_service.webhook_stream_backlog() == 0


@pytest.mark.django_db
def test_an_unreadable_entry_becomes_a_failed_event(stream_name):
    queue = redis.Redis.from_url(_redis_url())
    entry_id = queue.xadd(stream_name, {b"payload": b"\xff not json"}).decode()
    report = stream_service.webhook_stream_drain(block_ms=None)
    assert report.rejected == 1
    event = WebhookEvent.objects.get(delivery_id=entry_id)
    assert event.status == "failed" and "unreadable stream entry" in event.error


@pytest.mark.django_db
def test_a_looping_drainer_stays_one_consumer_of_the_group(stream_name):
    # The drain command calls the service every second: each call must not add a consumer to Redis
    # (the name was once derived from a client object made per call).
    queue = redis.Redis.from_url(_redis_url())
    for _ in range(3):
        queue.xadd(stream_name, {b"payload": b"not json"})  # Redis adds a consumer when it hands one an entry
        assert stream_service.webhook_stream_drain(block_ms=None).rejected == 1
    assert len(queue.xinfo_consumers(stream_name, stream_service.GROUP)) == 1


def _redis_now_ms(queue) -> int:
    seconds, micros = queue.time()
    return seconds * 1000 + micros // 1000


def test_the_drain_waits_for_a_quiet_spell_but_not_past_the_bound(stream_name):
    # Entry ids carry their arrival time on Redis's clock, so explicit ids stand for deliveries of the past.
    queue = redis.Redis.from_url(_redis_url())

    def settle():
        return stream_service.webhook_stream_settle_delay(quiet_ms=300, max_defer_ms=5000)

    assert settle() is None  # nothing queued
    now = _redis_now_ms(queue)
    queue.xadd(stream_name, {b"payload": b"{}"}, id=f"{now - 2000}-0")
    assert settle() == 0  # the burst ended two seconds ago: record now
    queue.xadd(stream_name, {b"payload": b"{}"}, id="*")
    delay = settle()
    assert 0.1 < delay <= 0.3  # a delivery just arrived: wait for the rest of the quiet spell

    queue.delete(stream_name)
    queue.xadd(stream_name, {b"payload": b"{}"}, id=f"{_redis_now_ms(queue) - 6000}-0")
    queue.xadd(stream_name, {b"payload": b"{}"}, id="*")
    assert settle() == 0  # still busy, but the oldest has waited past the bound


def test_waiting_for_a_delivery_claims_nothing(stream_name):
    queue = redis.Redis.from_url(_redis_url())
    started = time.monotonic()
    stream_service.webhook_stream_wait_for_delivery(timeout_ms=200)
    assert time.monotonic() - started >= 0.15  # nothing came: it waited the timeout
    queue.xadd(stream_name, {b"payload": b"not json"})
    stream_service.webhook_stream_wait_for_delivery(timeout_ms=200)
    assert queue.xlen(stream_name) == 1  # the entry is still there for the drain to record
