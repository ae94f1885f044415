import json
import uuid
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from annotator.client import ls_client
from annotator.models import Campaign, CampaignTask
from annotator.services.provision import campaign_prelabel_holdout_set
from backend.core.exceptions import ApplicationError
from backend.jobs.models import Job
from backend.jobs.services import job_run
from tests.conftest import png_bytes
from tests.factories import GeneratorFactory, make_image

pytestmark = pytest.mark.django_db


@pytest.fixture
def ls(labelstudio_server, settings):
    settings.LABEL_STUDIO_URL = labelstudio_server.url
    settings.LABEL_STUDIO_API_KEY = labelstudio_server.api_key
    yield
    for project_id in Campaign.objects.exclude(ls_project_id=None).values_list("ls_project_id", flat=True):
        ls_client().sdk.projects.delete(id=project_id)


def test_campaign_create_provisions_and_push_queues(ls, admin_client, viewer_client,
                                                   django_capture_on_commit_callbacks):
    gen = GeneratorFactory(name="newgen")
    name = f"api-{uuid.uuid4().hex[:6]}"
    r = admin_client.post("/api/campaigns/", {"name": name, "generator": gen.pk}, format="json")
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["ls_project_id"] and body["ls_webhook_id"] and body["label_studio_url"].endswith("/data")
    assert viewer_client.post("/api/campaigns/", {"name": "x"}, format="json").status_code == 403

    unlabelled = [make_image(data=png_bytes(seed=i), generator=gen) for i in range(3)]
    with django_capture_on_commit_callbacks(execute=True):  # eager Celery: the push runs here
        r = admin_client.post(f"/api/campaigns/{body['id']}/push", {"unlabelled": 10}, format="json")
    assert r.status_code == 202 and r.json()["queued"] == 3
    push = admin_client.get(f"/api/jobs/{r.json()['job']}/").json()
    assert (push["kind"], push["queue"], push["status"], push["subject_type"], push["subject_id"]) == (
        "labelstudio_push", "io", "succeeded", "annotator.campaign", body["id"])
    listed = admin_client.get(f"/api/jobs/?subject_type=annotator.campaign&subject_id={body['id']}").json()
    assert [j["id"] for j in listed["results"]] == [push["id"]]
    assert admin_client.get("/api/jobs/?subject_type=nope.nothing").status_code == 400
    assert push["result"]["pushed"] == 3
    assert set(CampaignTask.objects.values_list("image_id", flat=True)) == {im.pk for im in unlabelled}
    r = admin_client.post(f"/api/campaigns/{body['id']}/push", {"image_ids": [999999]}, format="json")
    assert r.status_code == 400 and "unknown image id" in r.json()["detail"]
    r = admin_client.post(f"/api/campaigns/{body['id']}/push", {}, format="json")
    assert r.status_code == 400
    # an on-demand reconcile is a job; asking again while it is queued gives the same job
    first = admin_client.post(f"/api/campaigns/{body['id']}/reconcile")
    again = admin_client.post(f"/api/campaigns/{body['id']}/reconcile")
    assert first.status_code == again.status_code == 202 and first.json()["job"] == again.json()["job"]
    assert job_run(job_id=first.json()["job"]) == "succeeded"  # what the io worker does with it
    assert Job.objects.get(pk=first.json()["job"]).result["failed"] == 0


def test_sync_and_reconcile_commands(ls):
    name = f"cli-{uuid.uuid4().hex[:6]}"
    gen = GeneratorFactory(name="cli-gen2")
    make_image(data=png_bytes(seed=41), generator=gen)
    out = StringIO()
    call_command("labelstudio_sync", "--project", name, "--generator", "cli-gen2", "--push-unlabelled", "5", stdout=out)
    line = json.loads(out.getvalue())
    assert line["campaign"] == name and line["push"]["pushed"] == 1
    out = StringIO()
    call_command("labelstudio_sync", "--project", name, stdout=out)  # again: nothing changes
    assert json.loads(out.getvalue())["project"] == line["project"]
    assert Campaign.objects.count() == 1
    out = StringIO()
    call_command("labelstudio_reconcile", stdout=out)
    report = json.loads(out.getvalue())
    assert report["campaign"] == name and report["failed"] == 0 and report["applied"] == 0
    with pytest.raises(CommandError, match="no provisioned campaign named 'nope'"):
        call_command("labelstudio_reconcile", "--project", "nope")


def test_not_configured_is_a_clear_error(settings, admin_client):
    settings.LABEL_STUDIO_URL = ""
    r = admin_client.post("/api/campaigns/", {"name": "c"}, format="json")
    assert r.status_code == 400 and "Label Studio is not configured" in r.json()["detail"]
    assert not Campaign.objects.exists()


@pytest.mark.parametrize("share", [-0.1, 1.5, "half", None])
def test_prelabel_holdout_outside_zero_to_one_is_refused(admin_client, share):
    """Refused before anything is provisioned (no Label Studio needed) and before anything is stored."""
    r = admin_client.post("/api/campaigns/", {"name": "held", "prelabel_holdout": share}, format="json")
    assert r.status_code == 400 and "prelabel_holdout" in r.json()
    assert not Campaign.objects.exists()
    campaign = Campaign.objects.create(name="kept")
    r = admin_client.patch(f"/api/campaigns/{campaign.pk}/", {"prelabel_holdout": share}, format="json")
    assert r.status_code == 400 and "prelabel_holdout" in r.json()
    campaign.refresh_from_db()
    assert campaign.prelabel_holdout == 0.0


def test_prelabel_holdout_is_set_by_admins_and_shown(admin_client, viewer_client):
    campaign = Campaign.objects.create(name="kept")
    assert viewer_client.patch(f"/api/campaigns/{campaign.pk}/", {"prelabel_holdout": 0.2},
                               format="json").status_code == 403
    r = admin_client.patch(f"/api/campaigns/{campaign.pk}/", {"prelabel_holdout": 0.2}, format="json")
    assert r.status_code == 200 and r.json()["prelabel_holdout"] == 0.2
    assert viewer_client.get(f"/api/campaigns/{campaign.pk}/").json()["prelabel_holdout"] == 0.2
    with pytest.raises(ApplicationError, match="between 0 and 1"):  # the service refuses NaN too
        campaign_prelabel_holdout_set(campaign=campaign, prelabel_holdout=float("nan"))
    campaign.refresh_from_db()
    assert campaign.prelabel_holdout == 0.2
