"""Pre-label jobs: predict with the production model and store the predictions. Thin: ids in params, one service
each. (Training jobs belong to the learning loop: learning/jobs.py.)"""

from __future__ import annotations

from backend.images.models import GeneratedImage
from backend.jobs.context import JobContext
from backend.jobs.registry import job_handler
from backend.mlmodels.models import ModelVersion
from backend.mlmodels.prelabel import images_prelabel
from backend.mlmodels.selectors import images_by_model, model_production_get
from backend.mlmodels.signals import predictions_stored
from backend.mlmodels.vlm_prelabel import images_prelabel_vlm


def _prelabel_targets(ctx: JobContext, kind: str):
    """(model version, image ids) of a pre-label job; the model is None when there is no production one."""
    params = ctx.params
    model = (ModelVersion.objects.get(pk=params["model_version_id"]) if params.get("model_version_id")
             else model_production_get(kind=kind))
    image_ids = params.get("image_ids")
    if image_ids is None and model is not None:
        # After a promotion: everything humans have not labelled yet that this model serves (a specialist its
        # scope's images, the unified model those no production specialist serves).
        unlabelled = GeneratedImage.objects.filter(is_labelled=False).values_list("pk", flat=True)
        image_ids = images_by_model(kind=kind, image_ids=unlabelled).get(model, [])
    return model, image_ids


def _announce(report: dict, model) -> dict:
    image_ids = report.pop("image_ids")
    if image_ids:
        for _receiver, outcome in predictions_stored.send(sender=ModelVersion, model_version=model,
                                                          image_ids=image_ids):
            report.update(outcome or {})
    report["model_version"] = model.pk
    return report


@job_handler("prelabel", queue="gpu")
def prelabel(ctx: JobContext) -> dict:
    model, image_ids = _prelabel_targets(ctx, ModelVersion.Kind.SEGMENTER)
    if model is None:
        return {"predicted": 0, "skipped": 0, "note": "no production segmenter"}
    report = images_prelabel(model_version=model, image_ids=image_ids, progress=ctx.progress)
    ctx.log(f"{model}: {report['predicted']} predicted, {report['skipped']} already done")
    return _announce(report, model)


@job_handler("prelabel_vlm", queue="gpu")
def prelabel_vlm(ctx: JobContext) -> dict:
    model, image_ids = _prelabel_targets(ctx, ModelVersion.Kind.VLM)
    if model is None:
        return {"predicted": 0, "skipped": 0, "note": "no production VLM"}
    report = images_prelabel_vlm(model_version=model, image_ids=image_ids, progress=ctx.progress)
    ctx.log(f"{model}: {report['predicted']} predicted, {report['malformed']} malformed, "
            f"{report['skipped']} already done")
    return _announce(report, model)
