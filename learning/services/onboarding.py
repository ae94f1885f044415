"""Onboarding a new generator: a campaign that asks humans for a first few labels chosen for coverage, then
fine-tunes the unified model on them with a short (few-shot) schedule as soon as they arrive, as a specialist of
that generator (scope generator:<name>). The specialist serves the generator's images only once it passes the
promotion gate on that generator's benchmark; it never replaces the unified model (nor does its few-shot VLM
replace the unified VLM)."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from annotator.models import Campaign
from annotator.services.provision import campaign_create, campaign_provision
from backend.core.exceptions import ApplicationError
from backend.images.models import GeneratedImage, Generator
from backend.mlmodels.models import ModelVersion
from backend.mlmodels.selectors import model_production_get
from datasets.models import Dataset
from datasets.services import dataset_create
from learning.services.retrain import retrain_policy_set
from learning.services.rounds import campaign_next_batch


def onboarding_campaign_name(generator: Generator) -> str:
    return f"onboard: {generator.name}" + (f" {generator.version}" if generator.version else "")


@transaction.atomic
def _campaign_for(generator: Generator, labels: int) -> Campaign:
    name = onboarding_campaign_name(generator)
    campaign = Campaign.objects.filter(name=name).first() or campaign_create(name=name, generator=generator)
    dataset_name = f"onboard-{generator.pk}"
    dataset = Dataset.objects.filter(name=dataset_name).first() or dataset_create(
        name=dataset_name, generators=[generator],
        description=f"Human labels of {generator}: the few-shot set its onboarding fine-tunes on.")
    retrain_policy_set(campaign=campaign, training_dataset=dataset, min_new_labels=labels,
                       max_iters=settings.FLAWMAP_FEWSHOT_MAX_ITERS,
                       replay_images=settings.FLAWMAP_FEWSHOT_REPLAY_IMAGES,
                       scope=f"generator:{generator.name}")
    return campaign


def generator_onboard(*, generator: Generator, labels: int = 10, strategy: str = "diversity") -> dict:
    """Create (or reuse) the generator's onboarding campaign and send humans its first `labels` images,
    picked by `strategy` (random when there is no production model to score them with yet)."""
    if not GeneratedImage.objects.filter(generator=generator, is_labelled=False).exists():
        raise ApplicationError(f"generator {generator} has no unlabelled images to label; ingest some first")
    campaign = _campaign_for(generator, labels)
    campaign_provision(campaign=campaign)
    if model_production_get(kind=ModelVersion.Kind.SEGMENTER) is None:
        strategy = "random"
    batch = campaign_next_batch(campaign=campaign, k=labels, strategy=strategy)
    return {"campaign": campaign.pk, "campaign_name": campaign.name, "strategy": strategy,
            "pushed": batch["pushed"], "picked": [p["image"] for p in batch["picked"]]}
