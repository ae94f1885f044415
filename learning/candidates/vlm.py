"""The VLM classifier's part of candidate training: export the version as `vlm-jsonl`, fine-tune the base
(VLM_BASE_MODEL) with LoRA, and compare macro F1 (exact-match accuracy breaks ties) of the candidate, the
production VLM and the un-tuned base on the test split."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from backend.core.exceptions import ApplicationError
from backend.mlmodels.models import ModelVersion
from backend.mlmodels.predictors import vlm_predictor
from datasets.export_run import export_to_path
from learning.training import CandidateRun, Progress, candidate_kind
from ml.vlm.data import load_split
from ml.vlm.evaluate import evaluate_loaded
from ml.vlm.model import ModelLoadError, load_tuned, load_untuned
from ml.vlm.package import pack
from ml.vlm.train import train


def _summary(report: dict | None) -> dict | None:
    if report is None:
        return None
    return {k: report[k] for k in ("images", "exact_match", "macro_f1", "malformed", "box_iou_matched",
                                   "box_recall_at_0.5", "per_class")}


@candidate_kind(ModelVersion.Kind.VLM, options=("max_steps", "base"))
def vlm_candidate(
    *, dataset_version, work: Path, production: ModelVersion | None, report: Progress,
    max_steps: int | None = None, base: str | None = None,
) -> CandidateRun:
    base = base or settings.VLM_BASE_MODEL
    if not base:
        raise ApplicationError("VLM_BASE_MODEL is not set: name a local base VLM folder or a cached model id")
    data = work / "data"
    report(0.0, f"exporting {dataset_version} as vlm-jsonl")
    export_to_path(version=dataset_version, fmt="vlm-jsonl", out=data)
    missing = [s for s in ("train", "test") if not load_split(data, s)]
    if missing:
        raise ApplicationError(f"{dataset_version} has no classified labels in split(s) {', '.join(missing)}")
    steps = max_steps or settings.VLM_TRAIN_MAX_STEPS

    def on_step(step: int, total: int, loss: float) -> None:
        if step == total or step % max(1, total // 20) == 0:
            report(0.05 + 0.75 * step / total, f"step {step}/{total} loss {loss:.3f}")

    try:
        trained = train(data=data, base=base, out=work / "run", max_steps=steps,
                        batch_size=settings.VLM_TRAIN_BATCH_SIZE, lr=settings.VLM_TRAIN_LR,
                        device=settings.FLAWMAP_ML_DEVICE, on_progress=on_step)
        report(0.82, "scoring candidate, production and base on the test split")
        test = load_split(data, "test")
        kwargs = {"batch_size": settings.VLM_PREDICT_BATCH_SIZE, "max_new_tokens": settings.VLM_MAX_NEW_TOKENS}
        candidate = load_tuned(work / "run", device=settings.FLAWMAP_ML_DEVICE)
        candidate_test = evaluate_loaded(candidate, test, **kwargs)
        base_test = evaluate_loaded(load_untuned(base, candidate.classes, device=settings.FLAWMAP_ML_DEVICE),
                                    test, **kwargs)
        production_test = (evaluate_loaded(vlm_predictor(production).loaded, test, **kwargs)
                           if production else None)
    except ModelLoadError as exc:
        raise ApplicationError(str(exc)) from exc

    def key(r):
        return (r["macro_f1"], r["exact_match"])

    better = production is None or key(candidate_test) > key(production_test)
    comparison = {
        "split": "test", "dataset_version": dataset_version.pk, "images": len(test), "metric": "macro_f1",
        "candidate_macro_f1": candidate_test["macro_f1"], "base_macro_f1": base_test["macro_f1"],
        "production_model": production.pk if production else None,
        "production_macro_f1": production_test["macro_f1"] if production else None,
        "promoted": better,
        "reason": ("no production VLM yet" if production is None else
                   f"candidate {candidate_test['macro_f1']:.4f} {'>' if better else '<='} production "
                   f"{production_test['macro_f1']:.4f} (macro F1, then exact match)"),
    }
    trained.pop("losses", None)
    return CandidateRun(
        checkpoint=pack(work / "run", work / "vlm.tar"),
        metrics={"train": trained, "test": _summary(candidate_test), "base_test": _summary(base_test),
                 "production_test": _summary(production_test), "comparison": comparison},
        comparison=comparison,
        # The gate's evidence (learning/promotion.py): per-image class counts of both on this test split.
        paired=None if production_test is None else {
            "metric": "macro_f1", "benchmark": f"test split of {dataset_version}",
            "candidate": candidate_test["items"], "production": production_test["items"]},
    )
