"""Poison deliveries never kill a process or stall the queue, under a 2 GiB address-space limit (`prlimit --as`).

Road 1: the ingress (a real uvicorn) queues them on Redis, then `manage.py webhook_drain --once` runs as its own
process under the limit, without a broker, so it also converts in-process (Celery's eager mode): every poison
delivery is a failed event with its reason, the drain exits 0 and the good delivery after them is stored.
Road 2: the Django receiver records them and a real Celery worker under the limit converts them.
"""

import json
import subprocess
import sys
import time

import numpy as np
import pytest
import redis

from annotator.converter import labels_to_results, mask_to_rle
from annotator.models import SyncedAnnotation, WebhookEvent
from annotator.services import stream as stream_service
from backend.annotations.models import Annotation, RegionLabel
from tests.annotator.test_intake import H, W, campaign, payload, post, task  # noqa: F401  (fixtures)
from tests.annotator.test_webhook_ingress import (  # noqa: F401  (fixtures)
    _post,
    _redis_url,
    _start_ingress,
    ingress,
    stream_name,
)
from tests.celery_worker import ROOT, start_worker, stop_worker, wait_until_ready, worker_env
from tests.reliability.conftest import fault_worker_env, wait_for

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

ADDRESS_SPACE = 2 * 1024**3  # prlimit --as: virtual memory, so a 4 GiB allocation fails instead of swapping
LIMITED = ("prlimit", f"--as={ADDRESS_SPACE}")  # runs the command after it under the limit


def _peak_virtual_kib(proc: subprocess.Popen) -> int:
    """Poll the process's VmPeak until it exits (the kernel keeps the high-water mark)."""
    peak = 0
    while proc.poll() is None:
        try:
            with open(f"/proc/{proc.pid}/status") as status:
                for line in status:
                    if line.startswith("VmPeak:"):
                        peak = max(peak, int(line.split()[1]))
        except (FileNotFoundError, ProcessLookupError):
            pass
        time.sleep(0.05)
    return peak


def _bomb_result() -> list[dict]:
    # ~800 bytes whose header asks the decoder for 0xFFFFFFFF values (4 GiB), past the 2 GiB the process has
    return [{"type": "brushlabels", "from_name": "artifact_mask", "original_width": W, "original_height": H,
             "value": {"format": "rle", "rle": [255, 255, 255, 255] + [0] * 800, "brushlabels": ["Artifact"]}}]


def _long_rle_result() -> list[dict]:
    # the right header, then garbage far longer than any encoding of a 40x30 mask
    rle = mask_to_rle(np.ones((H, W)))[:4] + [7] * (W * H * 4 * 3)
    return [{"type": "brushlabels", "from_name": "artifact_mask", "original_width": W, "original_height": H,
             "value": {"format": "rle", "rle": rle, "brushlabels": ["Artifact"]}}]


def _poison(task) -> list[tuple[str, dict, str]]:
    """(name, body, what the failed event's error says)."""
    deep = "bottom"
    for _ in range(40):
        deep = {"x": deep}
    out_of_range = payload(task, ann_id=2**31)
    negative_project = {**payload(task, ann_id=3), "project": {"id": -3}}
    user_not_int = payload(task, ann_id=4)
    user_not_int["annotation"]["completed_by"] = "7"
    return [
        ("bomb", payload(task, ann_id=10, result=_bomb_result()), "header claims 4294967295 values"),
        ("long", payload(task, ann_id=11, result=_long_rle_result()), "too long for a 40x30 mask"),
        ("id", out_of_range, f"annotation.id: {2**31} is not an id"),
        ("project", negative_project, "project.id: -3 is not an id"),
        ("user", user_not_int, "annotation.completed_by: '7' is not an id"),
        ("deep", {**payload(task, ann_id=5), "extra": deep}, "nested deeper than"),
    ]


def _nul_body(task) -> dict:
    body = payload(task, ann_id=20)
    body["annotation"]["result"] = labels_to_results(mask=None, regions=[], width=W, height=H) + [
        {"id": "r0", "from_name": "artifact_box", "to_name": "image", "type": "rectanglelabels",
         "original_width": W, "original_height": H,
         "value": {"x": 25, "y": 20, "width": 50, "height": 30, "rectanglelabels": ["Localized Blur"]}},
        {"id": "r0", "from_name": "caption", "to_name": "image", "type": "textarea",
         "value": {"text": ["nul\u0000 here"]}}]
    return body


def _drain_env(tmp_path, stream: str) -> dict:
    from django.db import connection

    env = worker_env(connection.settings_dict["NAME"])
    for name in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"):
        env.pop(name, None)  # no broker: the drain converts in-process, so the bomb meets this very process
    env.update({"FLAWMAP_WEBHOOK_STREAM_URL": _redis_url(), "FLAWMAP_WEBHOOK_STREAM": stream,
                "FLAWMAP_VAR_DIR": str(tmp_path / "var"), "FLAWMAP_MEDIA_ROOT": str(tmp_path / "media")})
    return env


def test_poison_through_the_ingress_then_the_drain_under_2_gib(ingress, stream_name, task, tmp_path):
    queue = redis.Redis.from_url(_redis_url())
    poison = _poison(task)
    for name, body, _ in poison:
        assert _post(ingress, body).status_code == 200, name  # the ingress checks only what is cheap
    assert _post(ingress, _nul_body(task)).status_code == 200
    # entries the ingress would not queue (an older ingress, a hand-made entry): the drain must survive them too
    unreadable = [queue.xadd(stream_name, {b"payload": raw}).decode() for raw in (
        b"\xff not json", b'{"action": "ANNOTATION_CREATED", "lead_time": NaN}', b"[1, 2]")]
    assert _post(ingress, payload(task, ann_id=99)).status_code == 200  # the good one, last

    proc = subprocess.Popen([*LIMITED, sys.executable, "manage.py", "webhook_drain", "--once"], cwd=ROOT,
                            env=_drain_env(tmp_path, stream_name), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    peak_kib = _peak_virtual_kib(proc)
    out, err = proc.communicate(timeout=300)
    print(f"webhook_drain --once under prlimit --as={ADDRESS_SPACE}: VmPeak {peak_kib / 1024:.0f} MiB")
    assert proc.returncode == 0, err[-3000:]
    assert "recorded" in out and "stored as failed events" in err

    events = {e.payload.get("annotation", {}).get("id"): e for e in WebhookEvent.objects.exclude(delivery_id=None)}
    for (name, body, reason), ann_id in zip(poison, (10, 11, 2**31, 3, 4, None), strict=True):
        event = events[ann_id] if ann_id is not None else WebhookEvent.objects.get(error__contains="nested deeper")
        assert event.status == "failed" and reason in event.error, (name, event.error)
    for entry_id in unreadable:
        event = WebhookEvent.objects.get(delivery_id=entry_id)
        assert event.status == "failed" and event.error, entry_id
    assert "NaN is not a JSON number" in WebhookEvent.objects.get(delivery_id=unreadable[1]).error
    assert events[20].status == "processed", events[20].error  # NULs stripped, the rest stored
    assert RegionLabel.objects.get(annotation=SyncedAnnotation.objects.get(ls_annotation_id=20).annotation
                                   ).caption == "nul here"
    assert events[99].status == "processed", events[99].error  # the good delivery after all of them
    assert Annotation.objects.count() == 2
    assert stream_service.webhook_stream_backlog() == 0  # every entry acknowledged: nothing left to loop on


def test_a_stalled_drain_cannot_grow_the_stream_past_its_cap(stream_name):
    maxlen = 50
    proc, url = _start_ingress(stream_name, _redis_url(), maxlen=maxlen)
    try:
        for i in range(400):  # no drain runs
            assert _post(url, {"action": "ANNOTATION_CREATED", "n": i}).status_code == 200
    finally:
        proc.terminate()
        proc.wait(10)
    queue = redis.Redis.from_url(_redis_url())
    node = int(queue.config_get("stream-node-max-entries")["stream-node-max-entries"])
    length = queue.xlen(stream_name)
    # XADD MAXLEN ~ trims whole nodes: at most one node's worth above the cap, and the newest are kept
    assert maxlen <= length <= maxlen + node, length
    assert json.loads(queue.xrevrange(stream_name, count=1)[0][1][b"payload"])["n"] == 399


def test_poison_through_the_django_receiver_then_a_worker_under_2_gib(task, on_private_broker, fault_dirs):
    from backend.config.celery import app

    env = fault_worker_env(on_private_broker, fault_dirs)
    worker = start_worker(env, queues="io", name="poison", prefix=LIMITED)
    try:
        wait_until_ready(worker, name="poison")
        bomb = post(payload(task, ann_id=10, result=_bomb_result()))
        good = post(payload(task, ann_id=11))
        assert bomb.status_code == good.status_code == 200
        wait_for(lambda: not WebhookEvent.objects.filter(status="pending").exists(), timeout=120,
                 what="the worker to convert both deliveries")
        assert worker.poll() is None and app.control.ping(timeout=2.0)  # the worker lives
        bomb_event = WebhookEvent.objects.get(pk=bomb.json()["event"])
        assert bomb_event.status == "failed" and "header claims 4294967295 values" in bomb_event.error
        assert WebhookEvent.objects.get(pk=good.json()["event"]).status == "processed"
        assert Annotation.objects.count() == 1
    finally:
        stop_worker(worker)


def test_an_entry_every_drainer_died_on_is_failed_not_handed_out_forever(stream_name, task):
    # A delivery that kills whoever records it (OOM, a crash in a C library) would otherwise be claimed again after
    # every death; past MAX_DELIVERIES hand-outs it is kept as a failed event and acknowledged.
    queue = redis.Redis.from_url(_redis_url())
    entry_id = queue.xadd(stream_name, {b"payload": json.dumps(payload(task, ann_id=30)).encode()}).decode()
    stream_service._ensure_group(queue, stream_name)
    queue.xreadgroup(stream_service.GROUP, "dead-0", {stream_name: ">"})
    for i in range(1, stream_service.MAX_DELIVERIES):  # each drainer that claimed it died too
        queue.xclaim(stream_name, stream_service.GROUP, f"dead-{i}", min_idle_time=0, message_ids=[entry_id])
    good_id = queue.xadd(stream_name, {b"payload": json.dumps(payload(task, ann_id=31)).encode()}).decode()
    report = stream_service.webhook_stream_drain(block_ms=None, claim_idle_ms=0)
    assert (report.rejected, report.recorded) == (1, 1)
    failed = WebhookEvent.objects.get(delivery_id=entry_id)
    assert failed.status == "failed" and f"gave up after {stream_service.MAX_DELIVERIES} deliveries" in failed.error
    assert WebhookEvent.objects.get(delivery_id=good_id).status == "processed"
    assert stream_service.webhook_stream_backlog() == 0
