"""Poison webhook deliveries: each ends as a 4xx or a failed event naming the reason, and the next good one is stored.

Through the Django receiver (in-process, eager conversion). The ingress + drain road is tests/reliability/.
"""

import io
import json
import tracemalloc

import numpy as np
import pytest
from django.conf import settings
from django.test import RequestFactory

from annotator.apis import LabelStudioWebhookApi
from annotator.converter import ConversionError, labels_to_results, mask_to_rle, rle_to_mask
from annotator.models import WebhookEvent
from annotator.webhook_payload import MAX_DEPTH
from backend.annotations.models import Annotation, RegionLabel
from tests.annotator.test_intake import H, W, a_mask, campaign, payload, post, task  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db

BIGINT_PAST = 2**63  # one past PostgreSQL's bigint
INT_PAST = 2**31  # one past PostgreSQL's integer (Label Studio id columns)


def _set(body: dict, path: str, value) -> dict:
    """Set "annotation.result.0.original_width"-style paths (numbers index lists)."""
    *parents, last = path.split(".")
    node = body
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return body


def _deep(levels: int):
    value = "bottom"
    for _ in range(levels):
        value = {"x": value}
    return value


POISON = [  # (where, value, what the error names)
    ("project", "9001", "project: '9001' is not an id"),
    ("project", True, "project: True is not an id"),
    ("project", {"id": -1}, "project.id: -1 is not an id"),
    ("project", {"id": INT_PAST}, f"project.id: {INT_PAST} is not an id"),
    ("project", 10**40, "project: 10000000000"),
    ("task.id", 0, "task.id: 0 is not an id"),
    ("task.id", BIGINT_PAST, "task.id:"),
    ("task.id", None, "task.id: missing an id"),
    ("task.data", ["not", "an", "object"], "task.data: must be an object"),
    ("task.data.flawmap_image_id", BIGINT_PAST, "task.data.flawmap_image_id:"),
    ("task.data.flawmap_image_id", -5, "task.data.flawmap_image_id: -5 is not an id"),
    ("annotation.id", 1.5, "annotation.id: 1.5 is not an id"),
    ("annotation.id", "1", "annotation.id: '1' is not an id"),
    ("annotation.id", INT_PAST, "annotation.id:"),
    ("annotation.task", -501, "annotation.task: -501 is not an id"),
    ("annotation.completed_by", -7, "annotation.completed_by: -7 is not an id"),
    ("annotation.completed_by", "7", "annotation.completed_by: '7' is not an id"),
    ("annotation.completed_by", BIGINT_PAST, "annotation.completed_by:"),
    ("annotation.lead_time", "slow", "annotation.lead_time: 'slow' is not a number"),
    ("annotation.lead_time", -1, "annotation.lead_time: -1 is not a number"),
    ("annotation.updated_at", 12, "annotation.updated_at: must be a date string"),
    ("annotation.result", "strokes", "annotation.result: must be a list"),
    ("annotation.result.0.original_width", -40, "annotation.result[0].original_width: -40 is not an image size"),
    ("annotation.result.0.original_height", 0, "annotation.result[0].original_height: 0 is not an image size"),
    ("annotation.result.0.original_width", "40", "original_width: '40' is not an image size"),
    ("annotation.result.0.original_height", INT_PAST, "original_height:"),
    ("annotations", "all of them", "annotations: must be a list"),
    ("annotations", [7], "annotations[0]: must be an object"),
    ("tasks", [{"id": -1}], "tasks[0].id: -1 is not an id"),
    ("deep", _deep(MAX_DEPTH + 5), f"payload nested deeper than {MAX_DEPTH} levels"),
]


@pytest.mark.parametrize("where, value, reason", POISON, ids=[f"{w}={str(v)[:20]}" for w, v, _ in POISON])
def test_a_poison_field_is_a_400_and_a_failed_event_naming_it(task, django_capture_on_commit_callbacks,
                                                             where, value, reason):
    body = _set(json.loads(json.dumps(payload(task))), where, value)  # a copy: payload() shares the task dict
    with django_capture_on_commit_callbacks(execute=True):
        answer = post(body)
    assert answer.status_code == 400, answer.content
    assert reason in answer.json()["detail"]
    event = WebhookEvent.objects.get(pk=answer.json()["event"])
    assert event.status == "failed" and reason in event.error and event.ls_project_id is None
    assert not Annotation.objects.exists()
    # the next good delivery is stored
    with django_capture_on_commit_callbacks(execute=True):
        good = post(payload(task, ann_id=2))
    assert good.status_code == 200
    assert WebhookEvent.objects.get(pk=good.json()["event"]).status == "processed"
    assert Annotation.objects.count() == 1


def test_nul_characters_are_stripped_and_the_rest_stored(task, django_capture_on_commit_callbacks):
    # PostgreSQL refuses U+0000 in text and jsonb: a NUL in a caption, a key or the task data would fail the insert
    body = payload(task, result=labels_to_results(mask=a_mask(), regions=[], width=W, height=H))
    body["annotation"]["result"].append({"id": "r0", "from_name": "artifact_box", "to_name": "image",
                                         "type": "rectanglelabels", "original_width": W, "original_height": H,
                                         "value": {"x": 25, "y": 20, "width": 50, "height": 30,
                                                   "rectanglelabels": ["Localized\u0000 Blur"]}})
    body["annotation"]["result"].append({"id": "r0", "from_name": "caption", "to_name": "image", "type": "textarea",
                                         "value": {"text": ["smu\u0000dge"]}})
    body["task"]["data"]["no\u0000te"] = "\u0000\u0000"
    body["action"] = "ANNOTATION_\u0000CREATED"
    raw = json.dumps(body)
    assert "\\u0000" in raw  # on the wire as JSON escapes, the way Label Studio would send them
    with django_capture_on_commit_callbacks(execute=True):
        answer = post(body)
    assert answer.status_code == 200, answer.content
    event = WebhookEvent.objects.get(pk=answer.json()["event"])
    assert event.status == "processed", event.error
    assert event.action == "ANNOTATION_CREATED" and "\\u0000" not in json.dumps(event.payload)
    assert event.payload["task"]["data"]["note"] == ""
    region = RegionLabel.objects.get()
    assert region.caption == "smudge" and region.artifact_class.name == "Localized Blur"


@pytest.mark.parametrize("body, reason", [
    (b'{"action": "ANNOTATION_CREATED", "lead_time": NaN}', "NaN is not a JSON number"),
    (b'{"action": "ANNOTATION_CREATED", "lead_time": -Infinity}', "-Infinity is not a JSON number"),
    (b'{"action": "ANNOTATION_CREATED", "lead_time": 1e999}', "1e999 is out of range"),
    (b'{"action": "A", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deep"),
    (b'{"action": "A", "x": "\x00"}', "body is not JSON"),  # a raw NUL is a control character: not JSON
    (b'{"action": "A", "n": ' + b"9" * 5000 + b"}", "body is not JSON"),  # past Python's int digits limit
])
def test_bodies_postgresql_or_python_would_choke_on_are_400(task, body, reason):
    answer = post_raw(body)
    assert answer.status_code == 400 and reason in answer.json()["detail"]
    assert not WebhookEvent.objects.exists()


def post_raw(body: bytes):
    from rest_framework.test import APIClient

    return APIClient().generic("POST", "/api/labelstudio/webhook/", body, content_type="application/json",
                               headers={settings.LABEL_STUDIO_WEBHOOK_HEADER: settings.LABEL_STUDIO_WEBHOOK_SECRET})


def test_a_body_over_the_cap_is_413(task, settings):
    settings.FLAWMAP_WEBHOOK_MAX_BYTES = 2000
    answer = post_raw(json.dumps({"action": "ANNOTATION_CREATED", "pad": "x" * 3000}).encode())
    assert answer.status_code == 413 and "2000" in answer.json()["detail"]
    assert not WebhookEvent.objects.exists()


class _CountingStream(io.BytesIO):
    def __init__(self, data: bytes):
        super().__init__(data)
        self.taken = 0

    def read(self, size=-1):
        chunk = super().read(size)
        self.taken += len(chunk)
        return chunk


def test_the_receiver_reads_no_more_than_the_cap_plus_one_byte(settings):
    # Whatever let the request through (a proxy that drops Content-Length checks, a middleware left out),
    # the view itself stops reading one byte past the cap.
    settings.FLAWMAP_WEBHOOK_MAX_BYTES = 1000
    stream = _CountingStream(b'{"action": "ANNOTATION_CREATED", "pad": "' + b"x" * 100_000 + b'"}')
    request = RequestFactory().generic("POST", "/api/labelstudio/webhook/", b"", content_type="application/json",
                                       headers={settings.LABEL_STUDIO_WEBHOOK_HEADER:
                                                settings.LABEL_STUDIO_WEBHOOK_SECRET})
    request.META["CONTENT_LENGTH"] = str(len(stream.getvalue()))
    request.META["wsgi.input"] = stream
    from django.core.handlers.wsgi import WSGIRequest

    answer = LabelStudioWebhookApi.as_view()(WSGIRequest(request.META))
    assert answer.status_code == 413
    assert stream.taken <= 1001
    assert not WebhookEvent.objects.exists()


def _rle_with_header(claimed: int, body: list[int]) -> list[int]:
    return list(claimed.to_bytes(4, "big")) + body


RLE_POISON = [
    (_rle_with_header(0xFFFFFFFF, mask_to_rle(np.zeros((H, W)))[4:]), "header claims 4294967295 values"),
    (_rle_with_header(W * H * 4 + 4, mask_to_rle(np.zeros((H, W)))[4:]), f"header claims {W * H * 4 + 4} values"),
    # the right header, then more bytes than any encoding of this mask needs
    (_rle_with_header(W * H * 4, [0] * (2 * W * H * 4 + 17)), "too long"),
    # the right header, a 9-bit word size (values a byte cannot hold)
    (_rle_with_header(W * H * 4, [0b01000_000, 0, 0, 0, 0, 0]), "do not fit a byte"),
    # the right header, then the data stops
    (mask_to_rle(np.ones((H, W)))[:8], "ends before its header's count"),
]


@pytest.mark.parametrize("rle, reason", RLE_POISON, ids=["4GiB", "header+4", "too-long", "9-bit", "truncated"])
def test_a_brush_rle_that_disagrees_with_the_image_fails_its_event(task, django_capture_on_commit_callbacks,
                                                                    rle, reason):
    result = [{"type": "brushlabels", "from_name": "artifact_mask", "original_width": W, "original_height": H,
               "value": {"format": "rle", "rle": rle, "brushlabels": ["Artifact"]}}]
    with django_capture_on_commit_callbacks(execute=True):
        answer = post(payload(task, result=result))
    assert answer.status_code == 200  # well formed: recorded, and its conversion fails
    event = WebhookEvent.objects.get(pk=answer.json()["event"])
    assert event.status == "failed" and reason in event.error
    assert not Annotation.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        assert post(payload(task, ann_id=2)).status_code == 200
    assert Annotation.objects.count() == 1


def test_decoding_the_longest_rle_allowed_stays_within_a_few_times_the_mask():
    # The SDK's decoder made a Python string per input bit (~475 bytes per RLE byte): 2 GB for a 1-megapixel
    # mask's longest allowed RLE. Ours holds the input as bytes and the output.
    width, height = 256, 256
    values = width * height * 4
    header = mask_to_rle(np.zeros((height, width)))[:5]  # the value count and an 8-bit word size
    longest = header + np.random.default_rng(0).integers(0, 256, 2 * values - 5).tolist()
    tracemalloc.start()
    try:
        try:
            rle_to_mask(longest, width=width, height=height)
        except ConversionError:
            pass  # random data may or may not decode: memory is the point
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * values, f"peak {peak} bytes for a {values}-value mask"
    checker = (np.indices((64, 64)).sum(0) % 2) > 0  # the worst case for run lengths, decoded exactly
    assert np.array_equal(rle_to_mask(mask_to_rle(checker), width=64, height=64), checker)
