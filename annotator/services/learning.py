"""The learning loop on a campaign: push fresh pre-labels, retrain when enough new labels arrived, and pick
the next images for humans by an acquisition strategy."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Max

from annotator.client import ls_client
from annotator.models import ActiveLearningRound, Campaign, CampaignTask
from annotator.services.push import campaign_push_images, prediction_for, unlabelled_image_ids
from backend.annotations.models import Annotation
from backend.core.exceptions import ApplicationError
from backend.images.models import GeneratedImage
from backend.jobs.models import Job
from backend.mlmodels.models import ImagePrediction, ModelVersion
from backend.mlmodels.selectors import model_production_get

UNIFIED_DATASET = "unified"


def campaigns_push_predictions(*, image_ids: list[int]) -> int:
    """Add the newest model pre-label to the Label Studio tasks these images already have (tasks pushed
    before the prediction existed, or predicted by an older model). Returns how many tasks got one."""
    tasks = list(CampaignTask.objects.filter(image_id__in=image_ids, campaign__ls_project_id__isnull=False)
                 .select_related("campaign"))
    if not tasks:
        return 0
    images = {im.pk: im for im in GeneratedImage.objects.filter(pk__in={t.image_id for t in tasks}).prefetch_related(
        "annotations__masks__blob", "annotations__regions__artifact_class", "annotations__model_version")}
    ls = ls_client()
    pushed = 0
    for task in tasks:
        prediction, source = prediction_for(images[task.image_id])
        if prediction is None or task.prediction_id == source.pk:
            continue
        ls.predictions.create(task=task.ls_task_id, result=prediction["result"], score=prediction.get("score"),
                              model_version=prediction["model_version"])
        task.prediction = source
        task.save(update_fields=["prediction"])
        pushed += 1
    return pushed


def campaign_training_dataset(campaign: Campaign):
    from datasets.models import Dataset
    from datasets.services import dataset_create

    if campaign.training_dataset_id:
        return campaign.training_dataset
    dataset = Dataset.objects.filter(name=UNIFIED_DATASET).first()
    if dataset is None:
        try:
            with transaction.atomic():
                dataset = dataset_create(name=UNIFIED_DATASET,
                                         description="Every human-labelled image; what the production segmenter learns.")
        except ApplicationError:  # created concurrently
            dataset = Dataset.objects.get(name=UNIFIED_DATASET)
    return dataset


def campaign_new_human_labels(campaign: Campaign) -> int:
    """Current human labels on this campaign's images submitted after its last training job was queued."""
    last = Job.objects.filter(kind="train_segmenter", campaign=campaign).exclude(
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
    from backend.jobs.services import job_create

    threshold = campaign.retrain_min_new_labels or settings.RETRAIN_MIN_NEW_LABELS
    with transaction.atomic():
        # Serialise triggers of one campaign: two label events crossing the threshold together queue one job.
        Campaign.objects.select_for_update().get(pk=campaign.pk)
        new_labels = campaign_new_human_labels(campaign)
        if not force and new_labels < threshold:
            return RetrainDecision(None, False, new_labels)
        params = {"dataset_id": campaign_training_dataset(campaign).pk, "campaign_id": campaign.pk,
                  "new_labels": new_labels}
        max_iters = max_iters or campaign.retrain_max_iters
        if max_iters:
            params["max_iters"] = max_iters
        replay_images = campaign.retrain_replay_images if replay_images is None else replay_images
        if replay_images:
            params["replay_images"] = replay_images
        job, created = job_create(kind="train_segmenter", params=params, dedupe_key=f"train:campaign:{campaign.pk}",
                                  campaign=campaign, created_by=created_by)
        vlm_job = None
        if settings.VLM_BASE_MODEL:
            # The same new labels carry boxes, classes and captions: the classifier learns from them too.
            vlm_params = {k: v for k, v in params.items() if k not in ("max_iters", "replay_images")}
            vlm_job, _ = job_create(kind="train_vlm", params=vlm_params, campaign=campaign, created_by=created_by,
                                    dedupe_key=f"train_vlm:campaign:{campaign.pk}")
        return RetrainDecision(job, created, new_labels, vlm_job)


def campaign_next_batch(*, campaign: Campaign, k: int, strategy: str, seed: int = 0) -> dict:
    """Pick k unlabelled images of the campaign by `strategy`, push them to Label Studio in that order
    (Label Studio shows tasks in creation order) and return the picks with the scores behind them."""
    from ml.active_learning import STRATEGIES, select

    if strategy not in STRATEGIES:
        raise ApplicationError(f"unknown strategy {strategy!r} (one of {', '.join(STRATEGIES)})")
    if k < 1:
        raise ApplicationError("k must be at least 1")
    candidates = unlabelled_image_ids(campaign=campaign)
    model = model_production_get(kind=ModelVersion.Kind.SEGMENTER)
    scores: dict[int, ImagePrediction] = {}
    if strategy != "random":
        if model is None:
            raise ApplicationError(f"strategy {strategy!r} needs a production segmenter; use random for the first batch")
        scores = {p.image_id: p for p in ImagePrediction.objects.filter(model_version=model, image_id__in=candidates)}
        unscored = len(candidates) - len(scores)
        if unscored:
            raise ApplicationError(f"{unscored} candidate image(s) have no prediction from {model} yet; "
                                   "wait for the pre-label job", extra={"unscored": unscored})
    preds = [scores[i] for i in candidates] if scores else []
    labelled_features = None
    if strategy == "diversity":
        labelled_features = [p.features for p in ImagePrediction.objects.filter(
            model_version=model, image__campaign_tasks__campaign=campaign).exclude(features=[])] or None
    try:
        order = select(
            strategy, k=k, n=len(candidates), seed=seed,
            entropy=[p.entropy for p in preds] if preds else None,
            margin=[p.margin for p in preds] if preds else None,
            par=[p.par for p in preds] if preds else None,
            features=[p.features for p in preds] if preds and preds[0].features else None,
            labelled_features=labelled_features,
        )
    except ValueError as exc:
        raise ApplicationError(str(exc)) from exc
    picked = [candidates[i] for i in order]
    report = campaign_push_images(campaign=campaign, image_ids=picked) if picked else None
    learning_round = learning_round_record(
        campaign=campaign, strategy=strategy, k=k, candidates=len(candidates), picked=len(picked),
        pushed=report.pushed if report else 0, model_version=model,
    ) if picked else None
    return {
        "strategy": strategy, "k": k, "candidates": len(candidates), "model_version": model.pk if model else None,
        "round": learning_round.number if learning_round else None,
        "picked": [
            {"image": candidates[i], **({"entropy": preds[i].entropy, "margin": preds[i].margin, "par": preds[i].par}
                                  if preds else {})}
            for i in order
        ],
        "pushed": report.pushed if report else 0,
    }


@transaction.atomic
def learning_round_record(
    *, campaign: Campaign, strategy: str, k: int, candidates: int, picked: int, pushed: int,
    model_version: ModelVersion | None,
) -> ActiveLearningRound:
    """Keep one next-batch pick as the campaign's next round (numbered 1, 2, ...), with the picking model's test
    metrics as they were then: a later retraining changes which model is in production, not this record."""
    # Lock the campaign so two picks at once get consecutive numbers instead of one failing on the constraint.
    Campaign.objects.select_for_update().get(pk=campaign.pk)
    last = ActiveLearningRound.objects.filter(campaign=campaign).aggregate(last=Max("number"))["last"] or 0
    metrics = (model_version.metrics or {}).get("test") or {} if model_version else {}
    return ActiveLearningRound.objects.create(
        campaign=campaign, number=last + 1, strategy=strategy, k=k, candidates=candidates, picked=picked,
        pushed=pushed, model_version=model_version, model_metrics=metrics,
    )
