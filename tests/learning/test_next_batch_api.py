import pytest

from annotator.models import Campaign
from backend.jobs.models import Job
from backend.mlmodels.services import model_promote, model_register
from tests.conftest import png_bytes
from tests.factories import GeneratorFactory, make_image

pytestmark = pytest.mark.django_db


@pytest.fixture
def campaign():
    return Campaign.objects.create(name="c", generator=GeneratorFactory())


def test_strategies_that_need_a_model_say_so(annotator_client, campaign):
    response = annotator_client.post(f"/api/campaigns/{campaign.pk}/next-batch", {"k": 5, "strategy": "uncertainty"},
                                     format="json")
    assert response.status_code == 400 and "needs a production segmenter" in response.json()["detail"]


def test_bad_input_is_refused(annotator_client, viewer_client, campaign):
    url = f"/api/campaigns/{campaign.pk}/next-batch"
    assert annotator_client.post(url, {"k": 0}, format="json").status_code == 400
    assert annotator_client.post(url, {"strategy": "best"}, format="json").status_code == 400
    assert viewer_client.post(url, {"k": 1}, format="json").status_code == 403
    assert annotator_client.post("/api/campaigns/999999/next-batch", {"k": 1}, format="json").status_code == 404


def test_unscored_candidates_are_reported_not_guessed(annotator_client, campaign, trained):
    model_promote(model_version=model_register(kind="segmenter", name="u", checkpoint_path=trained[0] / "best.pth"))
    for i in range(3):  # single-image ingest: no pre-label job, so nothing has scored them
        make_image(data=png_bytes(seed=i), generator=campaign.generator)
    response = annotator_client.post(f"/api/campaigns/{campaign.pk}/next-batch", {"k": 2, "strategy": "margin"},
                                     format="json")
    assert response.status_code == 400
    assert int(response.json()["unscored"]) == 3  # DRF renders error details as strings
    # the scoring is queued as the pre-label job (on a gpu worker; in-process here), never run by the request
    [job_id] = response.json()["jobs"]
    job = Job.objects.get(pk=job_id)
    assert job.kind == "prelabel" and job.queue == "gpu" and job.subject == campaign
    assert f"job {job_id}" in response.json()["detail"]


def test_onboarding_api_refuses_what_it_cannot_do(admin_client, annotator_client):
    generator = GeneratorFactory()
    url = f"/api/generators/{generator.pk}/onboard"
    assert annotator_client.post(url, {"labels": 10}, format="json").status_code == 403
    assert admin_client.post(url, {"labels": 2}, format="json").status_code == 400
    response = admin_client.post(url, {"labels": 10}, format="json")
    assert response.status_code == 400 and "no unlabelled images" in response.json()["detail"]
    assert admin_client.post("/api/generators/999999/onboard", {}, format="json").status_code == 404
