"""The segmenter's part of candidate training: export the version in the PAL4VST layout, fine-tune the production
model (or train from the config), and compare artifact IoU on the test split."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from backend.core.exceptions import ApplicationError
from backend.mlmodels.models import ModelVersion
from backend.mlmodels.predictors import checkpoint_local_path, segmenter_predictor
from datasets.export_run import export_to_path, train_sample_export
from datasets.selectors import version_of_model
from learning.segmenter_config import segmenter_config_for
from learning.training import CandidateRun, Progress, candidate_kind
from ml.pal4vst_layout import has_split
from ml.segmentation.launch import train_in_processes
from ml.segmentation.train import train


@candidate_kind(ModelVersion.Kind.SEGMENTER, options=("config", "max_iters", "init", "replay_images"))
def segmenter_candidate(
    *, dataset_version, work: Path, production: ModelVersion | None, report: Progress,
    config: str | None = None, max_iters: int | None = None, init: str = "production", replay_images: int = 0,
) -> CandidateRun:
    """Fine-tunes the production model when `init` is "production" and there is one.

    `replay_images`: when fine-tuning, that many of the production model's own training images join the train
    split (rehearsal): a few-shot set alone (10 images of one new generator) teaches the new artifacts but costs
    precision everywhere else (docs/experiments/few-shot.md)."""
    # torch and mmseg load here, on the training worker: this module is imported wherever jobs are registered
    from ml.segmentation.evaluation import evaluate_split
    from ml.segmentation.predictor import Predictor

    data = work / "data"
    report(0.0, f"exporting {dataset_version}")
    export_to_path(version=dataset_version, fmt="pal4vst", out=data)
    missing = [s for s in ("train", "val", "test") if not has_split(data, s)]
    if missing:
        raise ApplicationError(f"{dataset_version} has no labelled images in split(s) {', '.join(missing)}")
    init_path = None
    replay = None
    if init == "production" and production is not None and production.config:
        init_path = checkpoint_local_path(production)
        production_data = version_of_model(production) if replay_images else None
        if production_data is not None:
            report(0.02, f"adding {replay_images} rehearsal images from {production_data}")
            added = train_sample_export(
                version=production_data, out=data, n=replay_images,
                exclude_sha256=dataset_version.items.values("image_sha256"), seed=dataset_version.pk)
            replay = {"dataset_version": production_data.pk, "images": added}

    def on_progress(step: int, total: int, scalars: dict) -> None:
        loss = scalars.get("train/loss")
        report(0.05 + 0.85 * step / total, f"iter {step}/{total}" + (f" loss {loss:.3f}" if loss else ""))

    run = dict(config=segmenter_config_for(requested=config, fine_tuned=production if init_path else None),
               data=data, work_dir=work / "run",
               max_iters=max_iters or settings.FLAWMAP_SEGMENTER_MAX_ITERS, init=init_path,
               device=settings.FLAWMAP_ML_DEVICE, on_progress=on_progress)
    # Several GPUs: torchrun's processes (mmengine's distributed runner); a cancel stops them through on_progress.
    nproc = settings.FLAWMAP_TRAIN_NPROC
    trained = train(**run, quiet=True) if nproc == 1 else train_in_processes(nproc=nproc, **run)
    report(0.92, "scoring candidate and production on the test split")
    candidate_test = evaluate_split(Predictor(work / "run" / "best.pth", device=settings.FLAWMAP_ML_DEVICE),
                                    data, "test")
    production_test = evaluate_split(segmenter_predictor(production), data, "test") if production else None
    candidate_iou = candidate_test["artifact_IoU"] or 0.0
    production_iou = (production_test or {}).get("artifact_IoU") or 0.0
    better = production is None or candidate_iou > production_iou
    comparison = {
        "split": "test", "dataset_version": dataset_version.pk, "images": candidate_test["images"],
        "candidate_artifact_IoU": candidate_iou,
        "production_model": production.pk if production else None,
        "production_artifact_IoU": production_iou if production else None,
        "promoted": better,
        "reason": ("no production model yet" if production is None else
                   f"candidate {candidate_iou:.4f} {'>' if better else '<='} production {production_iou:.4f}"),
    }
    return CandidateRun(
        checkpoint=work / "run" / "best.pth",
        metrics={"train": trained, "test": candidate_test, "production_test": production_test,
                 "comparison": comparison, "init": str(production) if init_path else None, "replay": replay},
        comparison=comparison,
    )
