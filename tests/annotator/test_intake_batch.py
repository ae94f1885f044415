"""The drain's batches: many events converted in one transaction, exactly once, a bad one failing alone."""

import pytest
from django.contrib.auth.models import User

from annotator.converter import LSRegion, labels_to_results
from annotator.models import Campaign, CampaignTask, LabelStudioUser, SyncedAnnotation, WebhookEvent
from annotator.services.events import webhook_event_record
from annotator.services.intake_batch import webhook_events_process_batch
from backend.annotations.models import Annotation, MaskLabel, RegionLabel
from backend.core.models import Blob
from tests.annotator.test_intake import H, W, a_mask, payload
from tests.backend.storage_checks import assert_storage_matches_tables
from tests.conftest import png_bytes
from tests.factories import make_image

pytestmark = pytest.mark.django_db


@pytest.fixture
def tasks():
    campaign = Campaign.objects.create(name="c1", ls_project_id=9001, ls_webhook_id=1)
    LabelStudioUser.objects.create(ls_user_id=7, email="lena@example.org",
                                   user=User.objects.create_user("lena@example.org"))
    found = []
    for i in range(3):
        image = make_image(data=png_bytes(W, H, seed=80 + i))
        CampaignTask.objects.create(campaign=campaign, image=image, ls_task_id=600 + i)
        found.append({"id": 600 + i, "data": {"flawmap_image_id": image.pk}})
    return found


def record(*payloads) -> list[int]:
    return [webhook_event_record(payload=p).pk for p in payloads]


def test_a_batch_stores_each_annotation_once_with_one_blob_per_mask(tasks, django_capture_on_commit_callbacks):
    ids = record(*(payload(tasks[k % 3], ann_id=100 + k) for k in range(6)))
    with django_capture_on_commit_callbacks(execute=True):
        report = webhook_events_process_batch(event_ids=ids)
    assert (report.batched, report.one_by_one) == (6, 0)
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"processed"}
    assert SyncedAnnotation.objects.count() == Annotation.objects.count() == 6
    assert MaskLabel.objects.count() == RegionLabel.objects.count() == 6
    assert Blob.objects.filter(masks__isnull=False).distinct().count() == 1  # the same mask six times: one file
    mask = MaskLabel.objects.first()
    assert mask.artifact_pixels == a_mask().sum()
    for task in tasks:  # each image's label summary follows its new passes
        image = CampaignTask.objects.get(ls_task_id=task["id"]).image
        assert image.is_labelled and image.par == pytest.approx(mask.par) and image.par_source == "human"
    region = RegionLabel.objects.first()
    assert region.artifact_class.name == "Localized Blur" and region.caption == "smudge"

    # Run again, and the same deliveries recorded anew (a replay): nothing more is stored.
    again = record(*(payload(tasks[k % 3], ann_id=100 + k) for k in range(6)))
    assert webhook_events_process_batch(event_ids=ids + again).batched == 0
    assert set(WebhookEvent.objects.filter(pk__in=again).values_list("status", flat=True)) == {"skipped"}
    assert Annotation.objects.count() == 6


def test_a_bad_event_fails_alone_and_updates_keep_their_order(tasks):
    webhook_events_process_batch(event_ids=record(payload(tasks[0], ann_id=1)))  # stored before the batch
    bad_rle = [{"type": "brushlabels", "from_name": "artifact_mask", "to_name": "image", "original_width": W,
                "original_height": H, "value": {"format": "rle", "rle": [1, 2, 3], "brushlabels": ["Artifact"]}}]
    updated = "2026-11-22T10:00:00Z"
    ids = record(
        payload(tasks[1], ann_id=2),                                    # new: batched
        payload(tasks[0], ann_id=1, updated=updated, action="ANNOTATION_UPDATED"),  # an update: on its own
        payload(tasks[2], ann_id=3, result=bad_rle),                    # unreadable: fails alone
        payload({"id": 999, "data": {}}, ann_id=4),                     # not a Flawmap task: fails alone
        payload(tasks[2], ann_id=5),                                    # new: batched
        payload(tasks[2], ann_id=5, updated=updated, action="ANNOTATION_UPDATED"),  # same id again: after it
        {"action": "ANNOTATIONS_DELETED", "project": {"id": 9001}, "annotations": [{"id": 2}]},  # after id 2
    )
    report = webhook_events_process_batch(event_ids=ids)
    assert (report.batched, report.one_by_one) == (2, 5)
    events = [WebhookEvent.objects.get(pk=i) for i in ids]
    assert [e.status for e in events] == ["processed", "processed", "failed", "failed", "processed", "processed",
                                          "processed"]
    assert "RLE" in events[2].error and "not a Flawmap task" in events[3].error
    assert not SyncedAnnotation.objects.filter(ls_annotation_id__in=[3, 4]).exists()
    for ls_id in (1, 5):  # updated after being created: the newest is current, the first kept as history
        synced = SyncedAnnotation.objects.get(ls_annotation_id=ls_id)
        assert synced.ls_updated_at.day == 22 and synced.annotation.is_current
        assert synced.annotation.previous is not None and not synced.annotation.previous.is_current
    assert SyncedAnnotation.objects.get(ls_annotation_id=2).deleted_at is not None


def test_a_batch_that_fails_as_a_whole_is_processed_one_by_one(tasks, monkeypatch):
    """A batch the database refuses (here: a sync row a concurrent reconcile stored first) stores nothing of
    itself, not even the mask files it wrote; every event then goes the one-at-a-time way, storing each once."""
    from django.db import IntegrityError

    from annotator.services import intake_batch

    def refused(*args, **kwargs):
        raise IntegrityError("duplicate key value violates unique constraint")

    monkeypatch.setattr(SyncedAnnotation.objects, "bulk_create", refused)  # after the passes and their files
    result = labels_to_results(mask=a_mask(), regions=[LSRegion(1, 1, 9, 9, "Localized Blur", "")], width=W, height=H)
    ids = record(*(payload(tasks[k], ann_id=10 + k, result=result) for k in range(3)))

    with monkeypatch.context() as m:  # first without the one-by-one path: what the rolled-back batch left
        m.setattr(intake_batch, "webhook_event_process", lambda event_id: WebhookEvent.objects.get(pk=event_id))
        assert webhook_events_process_batch(event_ids=ids).batched == 0
    assert not Annotation.objects.exists() and not MaskLabel.objects.exists()
    assert_storage_matches_tables()  # the mask file the batch wrote went with its rollback

    report = webhook_events_process_batch(event_ids=ids)
    assert (report.batched, report.one_by_one) == (0, 3)
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"processed"}
    assert SyncedAnnotation.objects.count() == Annotation.objects.count() == 3
    assert_storage_matches_tables()


@pytest.fixture
def stream(settings):
    import os
    import uuid

    import redis

    url = os.environ.get("CELERY_BROKER_URL") or "redis://127.0.0.1:6379/0"
    settings.FLAWMAP_WEBHOOK_STREAM_URL, settings.FLAWMAP_WEBHOOK_STREAM = url, f"flawmap:test-batch:{uuid.uuid4().hex}"
    client = redis.Redis.from_url(url)
    yield client
    client.delete(settings.FLAWMAP_WEBHOOK_STREAM)


def _queue(stream, settings, *bodies) -> list[str]:
    import json

    return [stream.xadd(settings.FLAWMAP_WEBHOOK_STREAM, {b"payload": json.dumps(b).encode()}).decode()
            for b in bodies]


def test_the_drain_records_a_read_with_one_insert_and_queues_one_batch(tasks, stream, settings, monkeypatch):
    from annotator import tasks as annotator_tasks
    from annotator.services import stream as stream_service

    queued = []
    monkeypatch.setattr(annotator_tasks.process_webhook_events, "delay", queued.append)
    _queue(stream, settings, *(payload(tasks[k], ann_id=200 + k) for k in range(3)), {"action": "X", "x": "\x00"})
    report = stream_service.webhook_stream_drain(block_ms=None)
    assert (report.recorded, report.rejected) == (4, 0)  # an unknown action fails later, when converted
    assert len(queued) == 1 and sorted(queued[0]) == sorted(WebhookEvent.objects.values_list("pk", flat=True))
    assert stream_service.webhook_stream_backlog() == 0
    webhook_events_process_batch(event_ids=queued[0])
    assert SyncedAnnotation.objects.count() == 3
    assert WebhookEvent.objects.get(action="X").status == "failed"


def test_a_read_the_database_refuses_as_one_insert_is_recorded_entry_by_entry(tasks, stream, settings, monkeypatch,
                                                                             django_capture_on_commit_callbacks):
    from django.db import IntegrityError

    from annotator.services import stream as stream_service

    def refused(*args, **kwargs):
        raise IntegrityError("duplicate key value violates unique constraint")  # e.g. a second drainer's entry

    monkeypatch.setattr(WebhookEvent.objects, "bulk_create", refused)
    entry_ids = _queue(stream, settings, *(payload(tasks[k], ann_id=300 + k) for k in range(3)))
    with django_capture_on_commit_callbacks(execute=True):  # each recorded event queues its own conversion
        report = stream_service.webhook_stream_drain(block_ms=None)
    assert (report.recorded, report.duplicates, report.rejected) == (3, 0, 0)
    assert sorted(WebhookEvent.objects.values_list("delivery_id", flat=True)) == sorted(entry_ids)
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"processed"}  # converted (eager tasks)
    assert SyncedAnnotation.objects.count() == 3 and stream_service.webhook_stream_backlog() == 0
