"""Candidate training, the same for every model kind: train on a dataset version, score candidate and production
on that version's test split (the split assignment keeps it fixed across versions, so both face the same
images), register the candidate with the comparison, and promote it only if it is better.

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

from backend.core.blobs import atomic_with_blobs
from backend.mlmodels.models import ModelVersion
from backend.mlmodels.selectors import model_production_get
from backend.mlmodels.services import model_promote, model_register
from datasets.selectors import version_reference

Progress = Callable[[float, str], None]


@dataclass
class CandidateRun:
    """What a kind's part produced: the checkpoint to register, its metrics, and the comparison with production
    (`promoted` and a readable `reason` at least)."""

    checkpoint: Path
    metrics: dict
    comparison: dict


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
                    stale_work: str = "", **options) -> ModelVersion:
    """Train a candidate of `kind` on `dataset_version` in a scratch folder, register it with its comparison
    and promote it when it beats production. Registering and promoting run inside `publishing()` (a job's
    lease, backend.jobs.lease): an attempt that lost its job adds no model version and keeps no checkpoint.
    `stale_work` is the scratch-folder prefix of an attempt killed before this one: its leftovers are removed."""
    part = CANDIDATE_KINDS[kind]
    report = progress or (lambda fraction, message: None)
    production = model_production_get(kind=kind)
    work_dir = Path(settings.FLAWMAP_TRAIN_WORK_DIR or tempfile.gettempdir())
    if stale_work:
        for leftover in work_dir.glob(f"{stale_work}*"):
            shutil.rmtree(leftover, ignore_errors=True)
    work = Path(tempfile.mkdtemp(prefix=scratch_prefix or f"flawmap-{kind}-", dir=work_dir))
    try:
        run = part.run(dataset_version=dataset_version, work=work, production=production, report=report, **options)
        with publishing(), atomic_with_blobs():
            model = model_register(kind=kind, name=name, checkpoint_path=run.checkpoint, metrics=run.metrics,
                                   trained_on=version_reference(dataset_version))
            if run.comparison["promoted"]:
                model = model_promote(model_version=model)
        report(1.0, run.comparison["reason"])
        return model
    finally:
        shutil.rmtree(work, ignore_errors=True)
