"""What the dashboard shows that was not kept before: promotions (with rollbacks) and active-learning rounds."""

import pytest

from annotator.models import Campaign
from backend.core.exceptions import ApplicationError
from backend.mlmodels.models import ModelPromotion
from backend.mlmodels.services import model_promote
from learning.models import ActiveLearningRound
from learning.services.rounds import campaign_next_batch, learning_round_record
from tests.conftest import png_bytes
from tests.dashboard.conftest import _model
from tests.factories import GeneratorFactory, make_image

pytestmark = pytest.mark.django_db


def test_every_promotion_is_kept_with_the_model_it_replaced():
    first, second = _model("1", t2i=0.1, inpainting=0.2), _model("2", t2i=0.3, inpainting=0.4)
    model_promote(model_version=first)
    model_promote(model_version=second)
    model_promote(model_version=first)  # rollback
    model_promote(model_version=first)  # already in production: nothing happens
    history = [(p.model_version.version, p.replaced.version if p.replaced else None)
               for p in ModelPromotion.objects.order_by("promoted_at", "id")]
    assert history == [("1", None), ("2", "1"), ("1", "2")]
    first.refresh_from_db()
    latest = ModelPromotion.objects.filter(model_version=first).order_by("-promoted_at").first()
    assert first.promoted_at == latest.promoted_at  # promoted_at is the latest one; the history keeps the first


def test_rounds_are_numbered_per_campaign_and_keep_the_metrics_of_their_time():
    gen = GeneratorFactory()
    a, b = Campaign.objects.create(name="a", generator=gen), Campaign.objects.create(name="b", generator=gen)
    model = _model("1", t2i=0.2, inpainting=0.4)
    kwargs = dict(strategy="uncertainty", k=5, candidates=20, picked=5, pushed=5, model_version=model)
    numbers = [learning_round_record(campaign=c, **kwargs).number for c in (a, a, b, a)]
    assert numbers == [1, 2, 1, 3]
    model.metrics = {"test": {"artifact_IoU": 0.9}}
    model.save()
    first = ActiveLearningRound.objects.get(campaign=a, number=1)
    assert first.model_metrics["artifact_IoU"] == pytest.approx(0.3) and first.model_metrics["tasks"]
    assert learning_round_record(campaign=b, strategy="random", k=1, candidates=1, picked=1, pushed=1,
                                 model_version=None).model_metrics == {}


def test_next_batch_records_no_round_when_nothing_was_picked_or_pushed():
    campaign = Campaign.objects.create(name="no project", generator=GeneratorFactory())
    assert campaign_next_batch(campaign=campaign, k=3, strategy="random")["round"] is None  # no candidates
    for seed in range(2):
        make_image(data=png_bytes(seed=seed), generator=campaign.generator)
    with pytest.raises(ApplicationError, match="no Label Studio project"):
        campaign_next_batch(campaign=campaign, k=3, strategy="random")
    assert not ActiveLearningRound.objects.exists()
