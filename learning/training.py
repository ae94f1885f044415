"""Candidate training, the same for every model kind: train on a dataset version, score candidate and production
on that version's test split (the split assignment keeps it fixed across versions, so both face the same
images), register the candidate with the comparison, and promote it only if it passes the promotion gate
(learning/promotion.py: better on its scope's benchmark with 95 % confidence, no other benchmark worse by more
than FLAWMAP_PROMOTION_MAX_REGRESSION, a benchmark too small cannot decide). Every verdict is stored
(PromotionDecision) with its numbers.

What differs per kind (how to export, train and score) is a small part in `learning/candidates/`, registered
here by kind when the app is ready.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction

from backend.core.blobs import atomic_with_blobs, blob_discard_staged, blob_stage_file
from backend.mlmodels.models import UNIFIED, ModelVersion, PromotionDecision
from backend.mlmodels.services import CHECKPOINT_CONTENT_TYPE, model_register, promotion_decision_record
from datasets.selectors import version_reference
from learning.promotion import candidate_judge, incumbent_for

Progress = Callable[[float, str], None]


@dataclass
class CandidateRun:
    """What a kind's part produced: the checkpoint to register, its metrics, and the comparison with production
    (`promoted` and a readable `reason` at least)."""

    checkpoint: Path
    metrics: dict
    comparison: dict
    # For a kind without benchmarks (the VLM): both models' per-image items on one test set for the gate,
    # {"metric", "benchmark", "candidate", "production"}; None = judge on the benchmarks.
    paired: dict | None = None


@dataclass(frozen=True)
class CandidateKind:
    # (dataset_version, work folder, production model or None, progress, **options) -> CandidateRun
    run: Callable[..., CandidateRun]
    options: tuple[str, ...]  # the job parameters this kind takes


CANDIDATE_KINDS: dict[str, CandidateKind] = {}


def candidate_kind(kind: str, *, options: tuple[str, ...] = ()):
    def register(fn: Callable[..., CandidateRun]) -> Callable[..., CandidateRun]:
        CANDIDATE_KINDS[kind] = CandidateKind(run=fn, options=options)
        return fn

    return register


def work_prefix(kind: str, job_id: int | None) -> str:
    """Scratch folders of a job's training are named after the job, so its retry can remove what a killed
    attempt left (`candidate_train(stale_work=...)`)."""
    return f"flawmap-{kind}-job{job_id}-" if job_id else f"flawmap-{kind}-"


def candidate_train(*, kind: str, dataset_version, name: str, progress: Progress | None = None,
                    publishing: Callable[[], AbstractContextManager] = nullcontext, scratch_prefix: str = "",
                    stale_work: str = "", scope: str = UNIFIED, **options) -> ModelVersion:
    """Train a candidate of `kind` and `scope` on `dataset_version` in a scratch folder, register it with its
    comparison and promote it when it passes the gate against the model serving its scope now (a specialist's
    first rival is the unified model; it never replaces it, only takes its scope's images). Registering and
    promoting run inside `publishing()` (a job's lease, backend.jobs.lease): an attempt that lost its job adds
    no model version and keeps no checkpoint. `stale_work` is the scratch-folder prefix of an attempt killed
    before this one: its leftovers are removed."""
    part = CANDIDATE_KINDS[kind]
    report = progress or (lambda fraction, message: None)
    production = incumbent_for(kind=kind, scope=scope)
    work_dir = Path(settings.FLAWMAP_TRAIN_WORK_DIR or tempfile.gettempdir())
    work_dir.mkdir(parents=True, exist_ok=True)  # a fresh host's scratch folder starts empty
    if stale_work:
        for leftover in work_dir.glob(f"{stale_work}*"):
            shutil.rmtree(leftover, ignore_errors=True)
    work = Path(tempfile.mkdtemp(prefix=scratch_prefix or f"flawmap-{kind}-", dir=work_dir))
    try:
        run = part.run(dataset_version=dataset_version, work=work, production=production, report=report, **options)
        # Uploaded before the publishing transaction (a big checkpoint to S3 takes a while); removed again if the
        # registration is refused.
        staged = blob_stage_file(path=run.checkpoint, content_type=CHECKPOINT_CONTENT_TYPE)
        try:
            with publishing(), atomic_with_blobs():
                model = model_register(kind=kind, name=name, checkpoint_path=run.checkpoint, metrics=run.metrics,
                                       trained_on=version_reference(dataset_version), scope=scope, staged=staged)
        except BaseException:
            blob_discard_staged(staged)
            raise
        # Scoring on the benchmarks predicts every benchmark image: outside any transaction, after the commit.
        report(0.95, f"judging {model} against {production or 'no production model'}")
        decision = candidate_judge(candidate=model, incumbent=production, paired=run.paired)
        outcome = (PromotionDecision.Outcome.PROMOTED if decision.promote else
                   PromotionDecision.Outcome.UNDECIDED if decision.undecided else PromotionDecision.Outcome.REFUSED)
        with publishing(), transaction.atomic():
            record = promotion_decision_record(candidate=model, incumbent=production, outcome=outcome,
                                               reason=decision.reason, evidence=decision.evidence)
            # The kind's own test-split comparison stays beside the verdict; "promoted" and "reason" are the gate's.
            model.metrics["comparison"] = {**run.comparison, "test_split_promoted": run.comparison["promoted"],
                                           "promoted": decision.promote, "outcome": outcome,
                                           "reason": decision.reason, "decision": record.pk, "scope": scope}
            model.save(update_fields=["metrics"])
        model.refresh_from_db()
        report(1.0, decision.reason)
        return model
    finally:
        shutil.rmtree(work, ignore_errors=True)
