"""Write side of model versions: register a trained checkpoint, promote one to production."""

from __future__ import annotations

import json
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from backend.core.blobs import StagedBlob, atomic_with_blobs, blob_store, blob_store_staged
from backend.core.exceptions import ApplicationError
from backend.jobs.services import job_create
from backend.mlmodels.models import UNIFIED, ModelPromotion, ModelVersion, PromotionDecision, scope_check
from backend.mlmodels.selectors import images_by_model, production_models
from backend.mlmodels.signals import model_registered
from ml.vlm.package import is_package, read_meta

CHECKPOINT_CONTENT_TYPE = "application/octet-stream"


def _segmenter_description(path: Path, *, trust_config: bool) -> tuple[str, str]:
    """(config_name, config text) of a segmenter checkpoint; raises ApplicationError if it is not one, or if its
    config is not one shipped in ml/segmentation/configs/ and `trust_config` is False."""
    # torch loads here, when a checkpoint is registered, not when the web process starts
    from ml.segmentation.checkpoint import CheckpointError, is_torchscript, read_checkpoint, state_dict_of
    from ml.segmentation.config import config_check

    if is_torchscript(path):
        return "pal4vst-torchscript-512", ""
    try:
        checkpoint = read_checkpoint(path)
        state_dict_of(checkpoint)
    except CheckpointError as exc:
        raise ApplicationError(f"{path}: {exc}") from exc
    meta = checkpoint.get("meta") if isinstance(checkpoint, dict) else None
    if not isinstance(meta, dict) or not meta.get("cfg"):
        raise ApplicationError(
            f"{path}: not a segmenter checkpoint with its config (train with ml.segmentation.train, "
            "or register PAL4VST's TorchScript end2end.pt)"
        )
    config_name, config = str(meta.get("config_name") or ""), str(meta["cfg"])
    if not trust_config:
        try:
            config_check(name=config_name, text=config)
        except CheckpointError as exc:
            raise ApplicationError(f"{path}: {exc}") from exc
    return config_name, config


def _vlm_description(path: Path) -> tuple[str, str]:
    """(base model, flawmap_vlm.json text) of a packed VLM (ml.vlm.package); ApplicationError otherwise."""
    if not is_package(path):
        raise ApplicationError(f"{path}: not a packed VLM (python -m ml.vlm.train, then ml.vlm.package.pack)")
    meta = read_meta(path)
    return str(meta.get("base", "")), json.dumps(meta, indent=2, sort_keys=True)


def _next_version(*, kind: str, name: str) -> str:
    taken = set(ModelVersion.objects.filter(kind=kind, name=name).values_list("version", flat=True))
    n = len(taken) + 1
    while f"v{n}" in taken:
        n += 1
    return f"v{n}"


def model_register(
    *,
    kind: str,
    name: str,
    checkpoint_path: Path,
    version: str | None = None,
    metrics: dict | None = None,
    trained_on: dict | None = None,
    trust_config: bool = False,
    scope: str = UNIFIED,
    staged: StagedBlob | None = None,
) -> ModelVersion:
    """Store a checkpoint as a candidate ModelVersion. Metrics default to the `metrics.json` that
    `ml.segmentation.train` writes beside its checkpoint; `trained_on` names its dataset version
    (datasets.selectors.version_reference). `trust_config` admits a segmenter config that is not shipped with
    Flawmap and is recorded on the version; only the admin CLI passes it (`model_register --trust-config`).
    `scope`: unified, generator:<name> or task:<slug> (which images it is meant to serve). `staged`: the same
    file already uploaded by `blob_stage_file` before the caller's transaction (a training job does that, so a big
    checkpoint's upload holds no row lock); without it the bytes are stored here."""
    try:
        scope = scope_check(scope)
    except ValueError as exc:
        raise ApplicationError(str(exc)) from exc
    checkpoint_path = Path(checkpoint_path)
    if kind not in ModelVersion.Kind.values:
        raise ApplicationError(f"unknown model kind {kind!r} (one of {', '.join(ModelVersion.Kind.values)})")
    if not checkpoint_path.is_file():
        raise ApplicationError(f"checkpoint not found: {checkpoint_path}")
    if kind == ModelVersion.Kind.SEGMENTER:
        config_name, config = _segmenter_description(checkpoint_path, trust_config=trust_config)
    elif kind == ModelVersion.Kind.VLM:
        config_name, config = _vlm_description(checkpoint_path)
    else:
        config_name, config = "", ""
    if metrics is None:
        beside = checkpoint_path.parent / "metrics.json"
        metrics = json.loads(beside.read_text()) if beside.is_file() else {}
    with atomic_with_blobs():
        version = version or _next_version(kind=kind, name=name)
        if ModelVersion.objects.filter(kind=kind, name=name, version=version).exists():
            raise ApplicationError(f"{kind} {name}@{version} is already registered")
        if staged is not None:
            blob = blob_store_staged(staged)
        else:
            blob = blob_store(data=checkpoint_path.read_bytes(), content_type=CHECKPOINT_CONTENT_TYPE)
        model = ModelVersion.objects.create(
            kind=kind, name=name, version=version, checkpoint=blob, config_name=config_name, config=config,
            metrics=metrics, trained_on=trained_on or {}, scope=scope,
            config_trusted=trust_config and kind == ModelVersion.Kind.SEGMENTER,
        )
        # After the outermost commit: a receiver's job must find the row, and a rolled-back registration
        # (a training attempt that lost its job) announces nothing.
        transaction.on_commit(lambda: model_registered.send(sender=ModelVersion, model_version=model))
        return model


@transaction.atomic
def model_promote(*, model_version: ModelVersion, evidence: dict | None = None) -> ModelVersion:
    """Make this the production model of its kind and scope; the previous one of that scope is retired.
    Promoting a retired version again is how a rollback is done. `evidence` is the promotion gate's record
    (learning/training.py); without it this is an admin's decision and is stored as {"manual": true}."""
    locked = list(ModelVersion.objects.select_for_update().filter(kind=model_version.kind, scope=model_version.scope)
                  .order_by("id"))
    target = next(m for m in locked if m.pk == model_version.pk)
    if target.checkpoint_id is None:
        raise ApplicationError(f"{target} has no checkpoint and cannot serve")
    if target.status == ModelVersion.Status.PRODUCTION:
        return target
    now = timezone.now()
    replaced = None
    for current in locked:
        if current.status == ModelVersion.Status.PRODUCTION:
            current.status, current.retired_at = ModelVersion.Status.RETIRED, now
            current.save(update_fields=["status", "retired_at"])
            replaced = current
    target.status, target.promoted_at, target.retired_at = ModelVersion.Status.PRODUCTION, now, None
    target.save(update_fields=["status", "promoted_at", "retired_at"])
    ModelPromotion.objects.create(kind=target.kind, model_version=target, replaced=replaced, promoted_at=now,
                                  scope=target.scope, evidence=evidence if evidence is not None else {"manual": True})
    return target


@transaction.atomic
def promotion_decision_record(*, candidate: ModelVersion, incumbent: ModelVersion | None, outcome: str,
                              reason: str, evidence: dict) -> PromotionDecision:
    """Store the gate's verdict on a candidate, and promote it when the verdict says so (same transaction)."""
    if outcome not in PromotionDecision.Outcome.values:
        raise ApplicationError(f"outcome must be one of {', '.join(PromotionDecision.Outcome.values)}")
    decision = PromotionDecision.objects.create(kind=candidate.kind, scope=candidate.scope, candidate=candidate,
                                                incumbent=incumbent, outcome=outcome, reason=reason,
                                                evidence=evidence)
    if outcome == PromotionDecision.Outcome.PROMOTED:
        model_promote(model_version=candidate, evidence={"decision": decision.pk, "reason": reason, **evidence})
    return decision


def _prelabel_jobs(*, kind: str, job_kind: str, image_ids: list[int] | None, subject=None) -> list:
    """Queue `job_kind`, one job per production model of `kind` that serves some of the images (routing:
    selectors.production_model_for). `image_ids` None = every unlabelled image each model serves, one such job
    per model at a time. Returns the jobs; none when there is no model to pre-label with."""
    if image_ids is None:
        groups = {model: None for model in production_models(kind=kind).values()}
    else:
        groups = images_by_model(kind=kind, image_ids=image_ids)
    jobs = []
    for model, ids in sorted(groups.items(), key=lambda pair: pair[0].pk):
        job, _ = job_create(
            kind=job_kind, params={"image_ids": ids, "model_version_id": model.pk},
            dedupe_key="" if ids is not None else f"{job_kind}:all:{model.pk}",
            subject=subject,
        )
        jobs.append(job)
    return jobs


def prelabel_enqueue(*, image_ids: list[int] | None, subject=None) -> list:
    """Queue segmenter pre-label jobs (mask + PAR), one per production segmenter serving the images."""
    return _prelabel_jobs(kind=ModelVersion.Kind.SEGMENTER, job_kind="prelabel", image_ids=image_ids,
                          subject=subject)


def vlm_prelabel_enqueue(*, image_ids: list[int] | None, subject=None) -> list:
    """Queue `prelabel_vlm` jobs (boxes, classes, captions), one per production VLM serving the images."""
    return _prelabel_jobs(kind=ModelVersion.Kind.VLM, job_kind="prelabel_vlm", image_ids=image_ids,
                          subject=subject)

