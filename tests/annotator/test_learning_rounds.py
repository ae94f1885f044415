"""A next-batch pick against the real Label Studio is kept as the campaign's next active-learning round."""

import uuid

import pytest

from annotator.client import ls_client
from annotator.models import ActiveLearningRound, Campaign, CampaignTask
from annotator.services.provision import campaign_provision
from tests.conftest import png_bytes
from tests.factories import GeneratorFactory, make_image

pytestmark = pytest.mark.django_db


@pytest.fixture
def campaign(labelstudio_server, settings):
    settings.LABEL_STUDIO_URL = labelstudio_server.url
    settings.LABEL_STUDIO_API_KEY = labelstudio_server.api_key
    campaign = campaign_provision(campaign=Campaign.objects.create(
        name=f"rounds-{uuid.uuid4().hex[:6]}", generator=GeneratorFactory()))
    yield campaign
    ls_client().projects.delete(id=campaign.ls_project_id)


def test_each_pick_is_a_numbered_round(campaign, annotator_client):
    for seed in range(5):
        make_image(data=png_bytes(seed=seed), generator=campaign.generator)
    url = f"/api/campaigns/{campaign.pk}/next-batch"
    first = annotator_client.post(url, {"k": 2, "strategy": "random"}, format="json").json()
    second = annotator_client.post(url, {"k": 2, "strategy": "random", "seed": 1}, format="json").json()
    assert (first["round"], second["round"]) == (1, 2)
    rounds = list(ActiveLearningRound.objects.filter(campaign=campaign).order_by("number").values_list(
        "number", "strategy", "k", "candidates", "picked", "pushed", "model_version"))
    assert rounds == [(1, "random", 2, 5, 2, 2, None), (2, "random", 2, 3, 2, 2, None)]
    assert CampaignTask.objects.filter(campaign=campaign).count() == 4
