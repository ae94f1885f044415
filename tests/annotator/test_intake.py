"""Webhook intake and conversion, processed in-process (the real-worker path is in test_loop.py)."""

import numpy as np
import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection
from rest_framework.test import APIClient

from annotator.converter import LSRegion, labels_to_results, mask_to_rle
from annotator.models import Campaign, CampaignTask, LabelStudioUser, WebhookEvent
from annotator.services import intake
from backend.annotations.models import Annotation, MaskLabel
from tests.conftest import png_bytes
from tests.factories import make_image

pytestmark = pytest.mark.django_db

W, H = 40, 30


@pytest.fixture
def campaign():
    return Campaign.objects.create(name="c1", ls_project_id=9001, ls_webhook_id=1)


@pytest.fixture
def task(campaign):
    image = make_image(data=png_bytes(W, H, seed=77))
    CampaignTask.objects.create(campaign=campaign, image=image, ls_task_id=501)
    LabelStudioUser.objects.create(ls_user_id=7, email="lena@example.org",
                                   user=User.objects.create_user("lena@example.org"))
    return {"id": 501, "data": {"flawmap_image_id": image.pk}}


def a_mask():
    mask = np.zeros((H, W), dtype=bool)
    mask[5:15, 10:30] = True
    return mask


def payload(task, *, ann_id=1, updated="2026-11-21T10:00:00Z", result=None, action="ANNOTATION_CREATED"):
    if result is None:
        result = labels_to_results(mask=a_mask(), regions=[LSRegion(10, 5, 30, 15, "Localized Blur", "smudge")],
                                   width=W, height=H)
    return {"action": action, "project": {"id": 9001}, "task": task,
            "annotation": {"id": ann_id, "task": task["id"], "result": result, "completed_by": 7, "lead_time": 33.0,
                           "created_at": updated, "updated_at": updated, "was_cancelled": False}}


def post(body, secret=None):
    client = APIClient()
    headers = {settings.LABEL_STUDIO_WEBHOOK_HEADER:
               secret if secret is not None else settings.LABEL_STUDIO_WEBHOOK_SECRET}
    return client.post("/api/labelstudio/webhook/", body, format="json", headers=headers)


def deliver(body, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = post(body)
    assert response.status_code == 200, response.content
    return WebhookEvent.objects.get(pk=response.json()["event"])


def test_created_annotation_is_converted(task, django_capture_on_commit_callbacks):
    event = deliver(payload(task), django_capture_on_commit_callbacks)
    assert event.status == "processed", event.error
    annotation = Annotation.objects.get()
    assert annotation.user.username == "lena@example.org" and annotation.lead_time == 33.0
    region = annotation.regions.get()
    assert (region.x1, region.y1, region.x2, region.y2) == pytest.approx((10, 5, 30, 15))
    assert region.artifact_class.name == "Localized Blur" and region.caption == "smudge"
    assert annotation.masks.get().artifact_pixels == a_mask().sum()


def test_the_pass_records_what_its_task_showed(task, django_capture_on_commit_callbacks):
    """Intake copies what push recorded on the task (shown / withheld by the holdout) onto the pass; a task that
    is not a campaign task (found by its image id) gives a pass whose prelabel is not known (blank)."""
    CampaignTask.objects.filter(ls_task_id=501).update(prelabel=Annotation.Prelabel.WITHHELD)
    assert deliver(payload(task), django_capture_on_commit_callbacks).status == "processed"
    withheld = Annotation.objects.get()
    assert withheld.prelabel == "withheld" and withheld.prediction_shown is False
    CampaignTask.objects.filter(ls_task_id=501).update(prelabel=Annotation.Prelabel.SHOWN)
    newer = payload(task, updated="2026-11-21T11:00:00Z", action="ANNOTATION_UPDATED")
    assert deliver(newer, django_capture_on_commit_callbacks).status == "processed"
    assert Annotation.objects.get(is_current=True).prediction_shown is True
    CampaignTask.objects.all().delete()
    other = payload(task, ann_id=2)
    assert deliver(other, django_capture_on_commit_callbacks).status == "processed"
    unknown = Annotation.objects.order_by("-id").first()
    assert unknown.prelabel == "" and unknown.prediction_shown is None


def test_replayed_webhook_stores_nothing_new(task, django_capture_on_commit_callbacks):
    deliver(payload(task), django_capture_on_commit_callbacks)
    replay = deliver(payload(task), django_capture_on_commit_callbacks)
    assert replay.status == "skipped"
    assert Annotation.objects.count() == 1 and MaskLabel.objects.count() == 1


def test_update_keeps_history_and_delete_marks_deleted(task, django_capture_on_commit_callbacks):
    deliver(payload(task), django_capture_on_commit_callbacks)
    newer = payload(task, updated="2026-11-21T11:00:00Z", action="ANNOTATION_UPDATED",
                    result=labels_to_results(mask=None, regions=[], width=W, height=H))
    assert deliver(newer, django_capture_on_commit_callbacks).status == "processed"
    old, new = Annotation.objects.order_by("id")
    assert not old.is_current and new.is_current and new.previous_id == old.pk
    gone = {"action": "ANNOTATIONS_DELETED", "project": {"id": 9001}, "annotations": [{"id": 1}]}
    assert deliver(gone, django_capture_on_commit_callbacks).status == "processed"
    new.refresh_from_db()
    assert new.deleted_at is not None and not new.is_current
    new.image.refresh_from_db()
    assert not new.image.is_labelled


def test_wrong_or_missing_secret_is_403_and_stores_nothing(task):
    assert post(payload(task), secret="nope").status_code == 403
    assert APIClient().post("/api/labelstudio/webhook/", payload(task), format="json").status_code == 403
    assert not WebhookEvent.objects.exists() and not Annotation.objects.exists()


@pytest.mark.parametrize("result, reason", [
    ([{"type": "brushlabels", "from_name": "artifact_mask", "value": {"format": "rle", "rle": [9, 9, 9]}}],
     "malformed brush RLE"),
    # a bomb: ~800 bytes whose header asks for 4 GiB (0xFFFFFFFF values)
    ([{"type": "brushlabels", "from_name": "artifact_mask",
       "value": {"format": "rle", "rle": [255, 255, 255, 255] + [0] * 800}}], "header claims 4294967295 values"),
    ([{"type": "brushlabels", "from_name": "artifact_mask", "original_width": 8, "original_height": 8,
       "value": {"format": "rle", "rle": mask_to_rle(np.ones((8, 8)))}}], "drawn on a 8x8 image"),
    ([{"id": "r", "type": "rectanglelabels", "from_name": "artifact_box",
       "value": {"x": 1, "y": 1, "width": 5, "height": 5, "rectanglelabels": ["Ghosts"]}}], "unknown artifact class"),
])
def test_bad_annotations_fail_with_reason_and_write_nothing(task, django_capture_on_commit_callbacks, result, reason):
    event = deliver(payload(task, result=result), django_capture_on_commit_callbacks)
    assert event.status == "failed" and reason in event.error
    assert not Annotation.objects.exists() and not MaskLabel.objects.exists()
    # the queue goes on: a good delivery afterwards is stored
    assert deliver(payload(task, ann_id=2), django_capture_on_commit_callbacks).status == "processed"


def test_unknown_task_and_project_fail_visibly(task, viewer_client, django_capture_on_commit_callbacks):
    stranger = {"id": 999, "data": {}}
    assert "not a Flawmap task" in deliver(payload(stranger), django_capture_on_commit_callbacks).error
    other_project = {**payload(task), "project": {"id": 1}}
    assert "belongs to no Flawmap campaign" in deliver(other_project, django_capture_on_commit_callbacks).error
    failed = viewer_client.get("/api/labelstudio/events/?status=failed").json()["results"]
    assert len(failed) == 2 and all(e["error"] for e in failed)
    assert viewer_client.get("/api/labelstudio/events/?status=bogus").status_code == 400


def test_signed_image_links(task, settings):
    from annotator.signing import image_signed_url

    image_id = task["data"]["flawmap_image_id"]
    url = image_signed_url(image_id=image_id)
    path = url.split(settings.FLAWMAP_PUBLIC_URL.rstrip("/"), 1)[1]
    response = APIClient().get(path)  # no login needed
    assert response.status_code == 200 and b"".join(response.streaming_content) == png_bytes(W, H, seed=77)
    assert APIClient().get(path[:-3] + "xyz").status_code == 403
    settings.FLAWMAP_SIGNED_URL_MAX_AGE = -1
    assert APIClient().get(path).status_code == 403


def test_events_left_pending_are_processed_by_the_periodic_job(task):
    from datetime import timedelta

    from django.utils import timezone

    from annotator.services.events import webhook_events_process_stale

    event = WebhookEvent.objects.create(action="ANNOTATION_CREATED", ls_project_id=9001, payload=payload(task))
    WebhookEvent.objects.filter(pk=event.pk).update(received_at=timezone.now() - timedelta(minutes=10))
    fresh = WebhookEvent.objects.create(action="ANNOTATION_CREATED", ls_project_id=9001,
                                        payload=payload(task, ann_id=2))
    assert webhook_events_process_stale() == 1  # run by the periodic reconcile_all job
    event.refresh_from_db()
    fresh.refresh_from_db()
    assert event.status == "processed" and fresh.status == "pending"  # a fresh one still has its job coming


def test_broker_down_still_acknowledges(task, monkeypatch, django_capture_on_commit_callbacks):
    from annotator import tasks

    def broker_down(*args, **kwargs):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(tasks.process_webhook_event, "delay", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(payload(task))
    assert response.status_code == 200
    assert WebhookEvent.objects.get().status == "pending"


def test_a_new_label_studio_user_is_looked_up_outside_the_intake_transaction(task, monkeypatch,
                                                                             django_capture_on_commit_callbacks):
    depth_at_start = len(connection.atomic_blocks)  # the test's own transaction
    looked_up = []

    class Client:
        def user_email(self, *, user_id):
            looked_up.append((user_id, len(connection.atomic_blocks)))
            return "new@example.org"

    monkeypatch.setattr(intake, "ls_client", Client)
    body = payload(task, ann_id=5)
    body["annotation"]["completed_by"] = 8
    event = deliver(body, django_capture_on_commit_callbacks)
    event.refresh_from_db()
    assert event.status == "processed"
    assert looked_up == [(8, depth_at_start)]  # no transaction of the intake's own was open
    annotation = Annotation.objects.get(user__username="ls-8-new")  # a user of its own, not named by the email
    assert LabelStudioUser.objects.get(ls_user_id=8).user == annotation.user
