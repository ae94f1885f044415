"""Model jobs: train a segmenter candidate, pre-label images. Thin: ids in params, one service each."""

from __future__ import annotations

from backend.jobs.context import JobContext
from backend.jobs.registry import job_handler


def _training_version(ctx: JobContext, what: str):
    """The dataset version a training job names, or a fresh snapshot of its dataset."""
    from datasets.models import Dataset, DatasetVersion
    from datasets.services import dataset_version_build, dataset_version_start

    params = ctx.params
    if params.get("dataset_version_id"):
        version = DatasetVersion.objects.get(pk=params["dataset_version_id"])
    else:
        ctx.progress(0.0, "snapshotting a dataset version")
        dataset = Dataset.objects.get(pk=params["dataset_id"])
        version = dataset_version_build(version=dataset_version_start(
            dataset=dataset, note=f"snapshot for {what} job {ctx.job.pk}"))
    ctx.log(f"{what} on {version} ({version.counts})")
    return version


def _prelabel_targets(ctx: JobContext, kind: str):
    """(model version, image ids) of a pre-label job; the model is None when there is no production one."""
    from backend.images.models import GeneratedImage
    from backend.mlmodels.models import ModelVersion
    from backend.mlmodels.selectors import model_production_get

    params = ctx.params
    model = (ModelVersion.objects.get(pk=params["model_version_id"]) if params.get("model_version_id")
             else model_production_get(kind=kind))
    image_ids = params.get("image_ids")
    if image_ids is None:  # after a promotion: everything humans have not labelled yet
        image_ids = list(GeneratedImage.objects.filter(is_labelled=False).values_list("pk", flat=True))
    return model, image_ids


def _training_report(ctx: JobContext, model, version, prelabel_enqueue) -> dict:
    """Log the promotion decision, pre-label again after a promotion, and report what was trained on what."""
    comparison = model.metrics["comparison"]
    ctx.log(f"{model}: {comparison['reason']}")
    if comparison["promoted"]:  # the new production model re-labels every image humans have not labelled
        prelabel_enqueue(image_ids=None, campaign_id=ctx.params.get("campaign_id"))
    return {"model_version": model.pk, "dataset_version": version.pk, "comparison": comparison}


def _push_predictions(report: dict, model) -> dict:
    if report["image_ids"]:
        from annotator.services.learning import campaigns_push_predictions

        report["pushed_to_labelstudio"] = campaigns_push_predictions(image_ids=report["image_ids"])
    report["model_version"] = model.pk
    report.pop("image_ids")
    return report


@job_handler("train_segmenter", queue="gpu")
def train_segmenter(ctx: JobContext) -> dict:
    from backend.mlmodels.services import prelabel_enqueue
    from backend.mlmodels.training import segmenter_train_candidate

    params = ctx.params
    version = _training_version(ctx, "training")
    model = segmenter_train_candidate(
        dataset_version=version, name=params.get("name", "unified"), max_iters=params.get("max_iters"),
        init=params.get("init", "production"), replay_images=params.get("replay_images", 0), progress=ctx.progress,
    )
    return _training_report(ctx, model, version, prelabel_enqueue)


@job_handler("prelabel", queue="gpu")
def prelabel(ctx: JobContext) -> dict:
    from backend.mlmodels.models import ModelVersion
    from backend.mlmodels.prelabel import images_prelabel

    model, image_ids = _prelabel_targets(ctx, ModelVersion.Kind.SEGMENTER)
    if model is None:
        return {"predicted": 0, "skipped": 0, "note": "no production segmenter"}
    report = images_prelabel(model_version=model, image_ids=image_ids, progress=ctx.progress)
    ctx.log(f"{model}: {report['predicted']} predicted, {report['skipped']} already done")
    return _push_predictions(report, model)


@job_handler("train_vlm", queue="gpu")
def train_vlm(ctx: JobContext) -> dict:
    from backend.mlmodels.services import vlm_prelabel_enqueue
    from backend.mlmodels.vlm_training import vlm_train_candidate

    params = ctx.params
    version = _training_version(ctx, "VLM training")
    model = vlm_train_candidate(dataset_version=version, name=params.get("name", "vlm"),
                                max_steps=params.get("max_steps"), progress=ctx.progress)
    return _training_report(ctx, model, version, vlm_prelabel_enqueue)


@job_handler("prelabel_vlm", queue="gpu")
def prelabel_vlm(ctx: JobContext) -> dict:
    from backend.mlmodels.models import ModelVersion
    from backend.mlmodels.vlm_prelabel import images_prelabel_vlm

    model, image_ids = _prelabel_targets(ctx, ModelVersion.Kind.VLM)
    if model is None:
        return {"predicted": 0, "skipped": 0, "note": "no production VLM"}
    report = images_prelabel_vlm(model_version=model, image_ids=image_ids, progress=ctx.progress)
    ctx.log(f"{model}: {report['predicted']} predicted, {report['malformed']} malformed, "
            f"{report['skipped']} already done")
    return _push_predictions(report, model)
