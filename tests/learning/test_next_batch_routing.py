"""next-batch ranks each candidate by the prediction of the model that pre-labels it (its most specific production
segmenter), as the pre-label job stored them; against the real Label Studio."""


import pytest

from backend.core.blobs import atomic_with_blobs, blob_store
from backend.mlmodels.models import ImagePrediction, ModelVersion
from backend.mlmodels.services import model_promote
from learning.models import ActiveLearningRound
from tests.conftest import png_bytes
from tests.factories import make_image

pytestmark = pytest.mark.django_db


def _production(name: str, scope: str) -> ModelVersion:
    with atomic_with_blobs():
        blob = blob_store(data=f"weights of {name}".encode(), content_type="application/octet-stream")
    return model_promote(model_version=ModelVersion.objects.create(kind="segmenter", name=name, version="1",
                                                                   checkpoint=blob, scope=scope))


def _scored(image, model, entropy: float) -> None:
    ImagePrediction.objects.create(image=image, model_version=model, par=0.1, entropy=entropy, margin=1 - entropy,
                                   features=[entropy, 1.0])


def test_candidates_are_ranked_by_the_model_that_serves_each(campaign, annotator_client):
    unified = _production("unified", "unified")
    photo = _production("segmenter-task-real_photo", "task:real_photo")
    t2i = [make_image(data=png_bytes(seed=100 + i), generator=campaign.generator) for i in range(3)]
    photos = [make_image(data=png_bytes(seed=200 + i), generator=campaign.generator, task_slug="real_photo")
              for i in range(3)]
    for i, image in enumerate(t2i):
        _scored(image, unified, 0.5 + i / 100)
    for i, image in enumerate(photos):
        _scored(image, photo, 0.8 + i / 100)  # the specialist that pre-labels them is unsure of two of them
        _scored(image, unified, 0.1)  # stale: the unified model's scores from before the specialist
    url = f"/api/campaigns/{campaign.pk}/next-batch"
    r = annotator_client.post(url, {"k": 2, "strategy": "uncertainty"}, format="json")
    assert r.status_code == 200, r.json()
    assert [p["image"] for p in r.json()["picked"]] == [photos[2].pk, photos[1].pk]
    assert [p["entropy"] for p in r.json()["picked"]] == [pytest.approx(0.82), pytest.approx(0.81)]
    # the round names the model that served most candidates (a tie of three each: the later one)
    assert ActiveLearningRound.objects.get(campaign=campaign).model_version == photo

    r = annotator_client.post(url, {"k": 2, "strategy": "diversity"}, format="json")
    assert r.status_code == 400 and "served by 2" in r.json()["detail"]
