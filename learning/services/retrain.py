"""The retraining policy of a campaign: which dataset it trains on, and one training job once enough new human
labels arrived (at most one active per campaign)."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from annotator.models import Campaign
from backend.annotations.models import Annotation
from backend.core.exceptions import ApplicationError
from backend.jobs.models import Job
from backend.jobs.services import job_create
from backend.mlmodels.models import UNIFIED, ModelVersion, scope_check
from datasets.models import Dataset, DatasetVersion
from datasets.services import dataset_create
from learning.models import RetrainPolicy

UNIFIED_DATASET = "unified"


def retrain_policy_get(campaign: Campaign) -> RetrainPolicy:
    """The campaign's retraining policy, or an unsaved empty one (the settings decide)."""
    return RetrainPolicy.objects.filter(campaign=campaign).select_related("training_dataset").first() or \
        RetrainPolicy(campaign=campaign)


@transaction.atomic
def retrain_policy_set(*, campaign: Campaign, **fields) -> RetrainPolicy:
    """Set some of the campaign's policy (training_dataset, min_new_labels, max_iters, replay_images, scope)."""
    unknown = set(fields) - {"training_dataset", "min_new_labels", "max_iters", "replay_images", "scope"}
    if unknown:
        raise ApplicationError(f"unknown retrain policy field(s): {', '.join(sorted(unknown))}")
    if "scope" in fields:
        try:
            fields["scope"] = scope_check(fields["scope"])
        except ValueError as exc:
            raise ApplicationError(str(exc)) from exc
    policy, _ = RetrainPolicy.objects.update_or_create(campaign=campaign, defaults=fields)
    return policy


def campaign_training_dataset(campaign: Campaign):
    policy = retrain_policy_get(campaign)
    if policy.training_dataset_id:
        return policy.training_dataset
    dataset = Dataset.objects.filter(name=UNIFIED_DATASET).first()
    if dataset is None:
        try:
            with transaction.atomic():
                dataset = dataset_create(name=UNIFIED_DATASET,
                                         description="Every human-labelled image;"
                                                     " what the production segmenter learns.")
        except ApplicationError:  # created concurrently
            dataset = Dataset.objects.get(name=UNIFIED_DATASET)
    return dataset


def campaign_new_human_labels(campaign: Campaign) -> int:
    """Current human labels on this campaign's images submitted after its last training job was queued."""
    last = Job.objects.for_subject(campaign).filter(kind="train_segmenter").exclude(
        status=Job.Status.CANCELLED).order_by("-created_at").values_list("created_at", flat=True).first()
    qs = Annotation.objects.filter(
        image__campaign_tasks__campaign=campaign, user__isnull=False, is_current=True, deleted_at__isnull=True,
        status=Annotation.Status.SUBMITTED,
    )
    if last is not None:
        qs = qs.filter(created_at__gt=last)
    return qs.values("image_id").distinct().count()


@dataclass(frozen=True)
class RetrainDecision:
    job: Job | None  # the training job queued now, or the one already active; None = not enough labels
    created: bool
    new_labels: int
    vlm_job: Job | None = None  # the VLM classifier's retraining, queued alongside when VLM_BASE_MODEL is set


def campaign_retrain_maybe(
    *, campaign: Campaign, force: bool = False, created_by=None, max_iters: int | None = None,
    replay_images: int | None = None,
) -> RetrainDecision:
    """Queue one training job when the campaign has enough new human labels (or `force`). At most one
    training job per campaign is active at a time."""
    policy = retrain_policy_get(campaign)
    threshold = policy.min_new_labels or settings.RETRAIN_MIN_NEW_LABELS
    with transaction.atomic():
        # Serialise triggers of one campaign: two label events crossing the threshold together queue one job.
        Campaign.objects.select_for_update().get(pk=campaign.pk)
        new_labels = campaign_new_human_labels(campaign)
        if not force and new_labels < threshold:
            return RetrainDecision(None, False, new_labels)
        params = {"dataset_id": campaign_training_dataset(campaign).pk, "campaign_id": campaign.pk,
                  "new_labels": new_labels}
        if policy.scope != UNIFIED:
            # Both kinds train a specialist of that scope: a few-shot set never touches the unified models.
            params["scope"] = policy.scope
        max_iters = max_iters or policy.max_iters
        if max_iters:
            params["max_iters"] = max_iters
        replay_images = policy.replay_images if replay_images is None else replay_images
        if replay_images:
            params["replay_images"] = replay_images
        job, created = job_create(kind="train_segmenter", params=params, dedupe_key=f"train:campaign:{campaign.pk}",
                                  subject=campaign, created_by=created_by)
        vlm_job = None
        if settings.VLM_BASE_MODEL:
            # The same new labels carry boxes, classes and captions: the classifier learns from them too.
            vlm_params = {k: v for k, v in params.items() if k not in ("max_iters", "replay_images")}
            vlm_job, _ = job_create(kind="train_vlm", params=vlm_params, subject=campaign, created_by=created_by,
                                    dedupe_key=f"train_vlm:campaign:{campaign.pk}")
        return RetrainDecision(job, created, new_labels, vlm_job)




def model_train_enqueue(*, kind: str, dataset: Dataset | None = None, dataset_version: DatasetVersion | None = None,
                        max_iters: int | None = None, replay_images: int | None = None,
                        created_by=None) -> tuple[Job, bool]:
    """Queue a training of `kind` on a dataset (a fresh snapshot) or a complete dataset version; one active
    training per (kind, target) at a time. max_iters and replay_images shape the segmenter's run only (the
    VLM's steps come from VLM_TRAIN_MAX_STEPS)."""
    vlm = kind == ModelVersion.Kind.VLM
    params = {} if vlm else {k: v for k, v in (("max_iters", max_iters), ("replay_images", replay_images)) if v}
    if dataset is not None:
        params["dataset_id"] = dataset.pk
    else:
        if dataset_version.status != DatasetVersion.Status.READY:
            raise ApplicationError(f"{dataset_version} is not complete")
        params["dataset_version_id"] = dataset_version.pk
    target = params.get("dataset_id") or f"v{params.get('dataset_version_id')}"
    return job_create(kind="train_vlm" if vlm else "train_segmenter", params=params,
                      dedupe_key=f"{'train_vlm' if vlm else 'train'}:dataset:{target}", created_by=created_by)
