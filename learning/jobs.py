"""Training jobs, one per model kind, all through `candidate_train`. Thin: ids in params, one service each."""

from __future__ import annotations

from backend.jobs.context import JobContext
from backend.jobs.registry import job_handler
from backend.mlmodels.models import UNIFIED, ModelVersion
from backend.mlmodels.services import prelabel_enqueue, vlm_prelabel_enqueue
from datasets.models import Dataset, DatasetVersion
from datasets.services import dataset_version_build, dataset_version_start
from learning.training import CANDIDATE_KINDS, candidate_train, work_prefix

# job kind -> (model kind, default model name, the pre-label job a promotion queues)
TRAINING_JOBS = {
    "train_segmenter": (ModelVersion.Kind.SEGMENTER, "unified", prelabel_enqueue),
    "train_vlm": (ModelVersion.Kind.VLM, "vlm", vlm_prelabel_enqueue),
}


def _training_version(ctx: JobContext) -> DatasetVersion:
    """The dataset version a training job names, or a fresh snapshot of its dataset."""
    params = ctx.params
    if params.get("dataset_version_id"):
        version = DatasetVersion.objects.get(pk=params["dataset_version_id"])
    else:
        ctx.progress(0.0, "snapshotting a dataset version")
        dataset = Dataset.objects.get(pk=params["dataset_id"])
        version = dataset_version_build(version=dataset_version_start(
            dataset=dataset, note=f"snapshot for {ctx.job.kind} job {ctx.job.pk}"))
    ctx.log(f"{ctx.job.kind} on {version} ({version.counts})")
    return version


def train_candidate(ctx: JobContext) -> dict:
    kind, default_name, prelabel = TRAINING_JOBS[ctx.job.kind]
    params = ctx.params
    version = _training_version(ctx)
    options = {key: params[key] for key in CANDIDATE_KINDS[kind].options if key in params}
    scope = params.get("scope") or UNIFIED
    # A specialist is named after its kind and scope (segmenter-generator-newgen): its versions count apart.
    name = params.get("name") or (default_name if scope == UNIFIED else f"{kind}-{scope.replace(':', '-')}")
    model = candidate_train(kind=kind, dataset_version=version, name=name, scope=scope,
                            progress=ctx.progress, publishing=ctx.publishing,
                            scratch_prefix=work_prefix(kind, ctx.job.pk),
                            stale_work=work_prefix(kind, ctx.job.retry_of_id) if ctx.job.retry_of_id else "",
                            **options)
    comparison = model.metrics["comparison"]
    ctx.log(f"{model}: {comparison['reason']}")
    if comparison["promoted"]:  # the new production model re-labels every image humans have not labelled
        prelabel(image_ids=None, subject=ctx.job.subject)
    return {"model_version": model.pk, "dataset_version": version.pk, "comparison": comparison}


for _job_kind in TRAINING_JOBS:
    job_handler(_job_kind, queue="gpu")(train_candidate)
