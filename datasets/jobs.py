"""Dataset jobs: build a reserved version, write an export (queue io), score a model on the benchmarks (gpu).
Thin: ids in params, one service each."""

from __future__ import annotations

from pathlib import Path

from django.utils import timezone

from backend.jobs.context import JobContext
from backend.jobs.registry import job_handler
from backend.mlmodels.models import ModelVersion
from datasets.benchmarks import model_benchmarks_score
from datasets.export_run import export_run
from datasets.models import DatasetVersion, Export
from datasets.services import dataset_version_build, dataset_versions_building_delete


def _version_lost(job) -> None:
    """A build whose last worker died: remove the half-reserved version, as a failed build does."""
    dataset_versions_building_delete(versions=DatasetVersion.objects.filter(pk=job.params["version_id"]))


@job_handler("dataset_version_build", queue="io", on_lost=_version_lost)
def dataset_version_build_job(ctx: JobContext) -> dict:
    version = DatasetVersion.objects.filter(pk=ctx.params["version_id"]).first()
    if version is None:
        return {"version": None, "note": "the version was deleted before it was built"}
    ctx.progress(0.0, f"building {version}")
    version = dataset_version_build(version=version)
    ctx.log(f"{version}: {version.counts.get('items', 0)} items")
    return {"version": version.pk, "dataset": version.dataset_id, "number": version.number, "counts": version.counts}


def _export_lost(job) -> None:
    Export.objects.filter(pk=job.params["export_id"], status=Export.Status.RUNNING).update(
        status=Export.Status.FAILED, error=job.message, finished_at=timezone.now())


@job_handler("dataset_export", queue="io", on_lost=_export_lost)
def dataset_export_job(ctx: JobContext) -> dict:
    export = Export.objects.select_related("version__dataset").get(pk=ctx.params["export_id"])
    if export.status != Export.Status.RUNNING:  # finished by an earlier attempt
        return {"export": export.pk, "status": export.status}
    ctx.progress(0.0, f"exporting {export.version} as {export.format}")
    export = export_run(export=export, out=Path(ctx.params["out"]), confined=True, publishing=ctx.publishing,
                        link=ctx.params.get("link", "auto"))
    ctx.log(f"{export.version} as {export.format} -> {export.path} (blob {export.archive_id})")
    return {"export": export.pk, "status": export.status, "path": export.path, "archive_sha256": export.archive_id}


@job_handler("benchmark_score", queue="gpu")
def benchmark_score_job(ctx: JobContext) -> dict:
    model = ModelVersion.objects.filter(pk=ctx.params["model_version_id"]).first()
    if model is None:
        return {"scores": [], "note": "the model version was deleted before it was scored"}
    ctx.progress(0.0, f"scoring {model} on the benchmarks")
    scores = model_benchmarks_score(model_version=model, progress=ctx.progress)
    for score in scores:
        ctx.log(f"{model} on {score.benchmark}: IoU {score.metrics['iou']} {score.metrics['iou_ci']}")
    return {"model_version": model.pk, "scores": [score.pk for score in scores]}
