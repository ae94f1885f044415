"""The backend's door to `ml/`: a Predictor for a registered segmenter, its checkpoint fetched from blob
storage once per process into a local cache (mmseg and torch read files, and S3 is not a file)."""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
import uuid
from collections import OrderedDict
from pathlib import Path

from django.conf import settings

from backend.core.blobs import blob_open
from backend.core.exceptions import ApplicationError
from backend.mlmodels.models import ModelVersion
from ml.vlm.model import load_tuned
from ml.vlm.package import read_meta, unpack
from ml.vlm.predictor import VlmPredictor

_CACHE_SIZE = 2
_cache: OrderedDict[tuple[str, str], object] = OrderedDict()
_lock = threading.Lock()


def checkpoint_local_path(model_version: ModelVersion) -> Path:
    """The checkpoint as a file in this host's FLAWMAP_MODEL_CACHE_DIR, fetched from blob storage when it is not
    there (or is not whole: a size that differs from the blob's). Each host keeps its own cache and can lose it:
    blob storage is where checkpoints live."""
    blob = model_version.checkpoint
    path = Path(settings.FLAWMAP_MODEL_CACHE_DIR) / f"{blob.sha256}.pt"
    if path.is_file() and path.stat().st_size == blob.size:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    # Unique per process and thread: workers on one host may share the cache folder and fetch the same model.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    try:
        digest = hashlib.sha256()
        with blob_open(blob) as src, open(tmp, "wb") as dst:
            for chunk in iter(lambda: src.read(1 << 20), b""):
                digest.update(chunk)
                dst.write(chunk)
        if digest.hexdigest() != blob.sha256:
            raise ApplicationError(f"{model_version}: the checkpoint in blob storage ({blob.key}) does not match its "
                                   "sha256; it was changed or damaged there")
        tmp.replace(path)  # atomic: a reader sees no file or the whole one
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _cached(key: tuple[str, str], build):
    """The predictor cached under `key`, built (under the lock: one load per key) when missing; the least
    recently used ones are dropped beyond _CACHE_SIZE."""
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
        predictor = _cache[key] = build()
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
        return predictor


def segmenter_predictor(model_version: ModelVersion, *, device: str | None = None, batch_size: int | None = None):
    """A cached `ml.segmentation.Predictor` for this model version."""
    from ml.segmentation.predictor import Predictor  # torch loads with the first model, not at web start-up

    device = device or settings.FLAWMAP_ML_DEVICE
    return _cached((model_version.checkpoint.sha256, device), lambda: Predictor(
        checkpoint_local_path(model_version), device=device,
        batch_size=batch_size or settings.FLAWMAP_PREDICT_BATCH_SIZE, trust_config=model_version.config_trusted))


def _unpacked_vlm(packed: Path) -> Path:
    """The packed VLM's folder beside the cached checkpoint, unpacked once."""
    folder = packed.with_suffix(".vlm")
    if not folder.is_dir():
        tmp = packed.with_suffix(f".{os.getpid()}.{uuid.uuid4().hex}.vlm-tmp")
        unpack(packed, tmp)
        try:
            tmp.replace(folder)
        except OSError:  # another process unpacked the same package first
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


def vlm_predictor(model_version: ModelVersion, *, device: str | None = None, batch_size: int | None = None):
    """A cached `ml.vlm.predictor.VlmPredictor` for a packed VLM model version: the package is unpacked
    next to the cached checkpoint once, and its base is the one it was trained on (VLM_BASE_MODEL when
    the recorded one is not on this machine)."""
    device = device or settings.FLAWMAP_ML_DEVICE

    def build():
        packed = checkpoint_local_path(model_version)
        recorded = str(read_meta(packed).get("base", ""))
        base = recorded if recorded and Path(recorded).exists() else (settings.VLM_BASE_MODEL or recorded)
        return VlmPredictor(load_tuned(_unpacked_vlm(packed), base=base, device=device),
                            batch_size=batch_size or settings.VLM_PREDICT_BATCH_SIZE,
                            max_new_tokens=settings.VLM_MAX_NEW_TOKENS)

    return _cached((model_version.checkpoint.sha256, f"vlm:{device}"), build)
