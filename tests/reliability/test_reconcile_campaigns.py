"""Reconcile goes on past a failing campaign (a real Label Studio): the failure is logged and kept as a failed event,
and the other campaigns are still reconciled, by the periodic task and by the command."""

import json
import uuid
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from annotator import tasks
from annotator.client import ls_client
from annotator.converter import labels_to_results
from annotator.models import Campaign, CampaignTask, WebhookEvent
from annotator.services.provision import campaign_create_provisioned
from annotator.services.reconcile import RECONCILE_FAILED_ACTION
from backend.annotations.models import Annotation
from tests.annotator.test_intake import H, W, a_mask
from tests.conftest import png_bytes
from tests.factories import make_image

pytestmark = pytest.mark.django_db

BOGUS_PROJECT = 999_999  # no such Label Studio project: listing its webhooks is refused (HTTP 400)


@pytest.fixture
def ls(labelstudio_server, settings):
    settings.LABEL_STUDIO_URL = labelstudio_server.url
    settings.LABEL_STUDIO_API_KEY = labelstudio_server.api_key
    yield ls_client()
    for project_id in Campaign.objects.exclude(ls_project_id__in=[None, BOGUS_PROJECT]).values_list(
            "ls_project_id", flat=True):
        ls_client().sdk.projects.delete(id=project_id)


def test_reconcile_goes_on_past_a_failing_campaign(ls):
    # first by name and by id, so that its failure comes before the good campaign in every loop
    Campaign.objects.create(name="aaa-broken", ls_project_id=BOGUS_PROJECT, ls_webhook_id=1)
    good = campaign_create_provisioned(name=f"rec-good-{uuid.uuid4().hex[:6]}")
    image = make_image(data=png_bytes(W, H, seed=5))
    (task_id,) = ls.tasks_import(project_id=good.ls_project_id,
                                 tasks=[{"data": {"image": "http://127.0.0.1:1/x.png", "flawmap_image_id": image.pk}}])
    CampaignTask.objects.create(campaign=good, image=image, ls_task_id=task_id)
    ls.annotation_create(task_id=task_id, result=labels_to_results(mask=a_mask(), regions=[], width=W, height=H),
                         lead_time=3.0)  # made in Label Studio while no webhook reached us

    result = tasks.reconcile_all()  # what celery beat runs
    assert "refused to list webhooks" in result["campaigns"]["aaa-broken"]["error"]
    assert result["campaigns"][good.name]["applied"] == 1 and result["campaigns"][good.name]["error"] == ""
    assert Annotation.objects.count() == 1
    failure = WebhookEvent.objects.get(action=RECONCILE_FAILED_ACTION)
    assert failure.status == "failed" and failure.source == "reconcile" and failure.ls_project_id == BOGUS_PROJECT
    assert failure.payload["campaign"] == "aaa-broken" and "refused to list webhooks" in failure.error

    tasks.reconcile_all()  # it fails again the same way: the one row is kept, not one row per run
    assert WebhookEvent.objects.filter(action=RECONCILE_FAILED_ACTION).count() == 1

    out = StringIO()
    with pytest.raises(CommandError, match=r"1 campaign\(s\) not reconciled: aaa-broken: Label Studio refused"):
        call_command("labelstudio_reconcile", "--quiet", stdout=out)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(line["campaign"], bool(line["error"])) for line in lines] == [("aaa-broken", True), (good.name, False)]
