"""A next-batch pick against the real Label Studio is kept as the campaign's next active-learning round."""


import pytest

from annotator.models import CampaignTask
from backend.mlmodels.models import ImagePrediction
from backend.mlmodels.services import model_promote, model_register
from learning.models import ActiveLearningRound
from tests.conftest import png_bytes
from tests.factories import make_image

pytestmark = pytest.mark.django_db


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


def test_mix_sends_the_most_uncertain_image_of_each_kind_most_uncertain_first(campaign, annotator_client, trained):
    model = model_promote(model_version=model_register(kind="segmenter", name="mix",
                                                       checkpoint_path=trained[0] / "best.pth"))
    # Three kinds of image (feature groups); the model is least sure about the first kind, so uncertainty
    # alone would send only those.
    entropy = [0.9, 0.8, 0.7, 0.3, 0.2, 0.4, 0.1, 0.05, 0.15]
    images = []
    for i, e in enumerate(entropy):
        image = make_image(data=png_bytes(seed=i), generator=campaign.generator)
        features = [0.0, 0.0, 0.0]
        features[i // 3] = 1.0
        ImagePrediction.objects.create(image=image, model_version=model, par=0.1, entropy=e, margin=1 - e,
                                       features=[f + 0.01 * i for f in features])
        images.append(image.pk)
    body = annotator_client.post(f"/api/campaigns/{campaign.pk}/next-batch", {"k": 3, "strategy": "mix"},
                                 format="json").json()
    assert [p["image"] for p in body["picked"]] == [images[0], images[5], images[8]]
    assert body["pushed"] == 3 and body["model_version"] == model.pk
