"""The inference worker's side of the reward: run the segmenter (PAR) and the VLM classifier (artifacts) on a
request's images, batched with the other requests for the same two models that arrive at the same time
(backend/mlmodels/batching.py). Imported by the worker's task only: this is where torch loads."""

from __future__ import annotations

import io

import numpy as np
from django.conf import settings
from PIL import Image

from backend.mlmodels.batching import BatcherPool, MicroBatcher
from backend.mlmodels.models import ModelVersion
from backend.mlmodels.predictors import segmenter_predictor, vlm_predictor

_batchers = BatcherPool(size=2)


def _scores_of(segmenter, vlm):
    """The batch function of one model pair: a score per image."""
    def run(arrays: list[np.ndarray]) -> list[dict]:
        pars = segmenter.predict(arrays).par
        findings = vlm.predict(arrays)
        return [{"par": float(par), "artifact_classes": found.classes, "regions": found.regions,
                 "vlm_malformed": found.malformed} for par, found in zip(pars, findings)]
    return run


def _decode(data: bytes) -> np.ndarray:
    # The web app checked every image (readable, within the pixel limits) before sending it.
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


def reward_scores(*, segmenter_id: int, vlm_id: int, images: list[bytes]) -> list[dict]:
    """Per image, in order: PAR, the artifact classes and regions the VLM found, and whether its answer was
    malformed."""
    segmenter_version = ModelVersion.objects.select_related("checkpoint").get(pk=segmenter_id)
    vlm_version = ModelVersion.objects.select_related("checkpoint").get(pk=vlm_id)
    arrays = [_decode(data) for data in images]  # in this request's thread, beside the model's batch
    segmenter, vlm = segmenter_predictor(segmenter_version), vlm_predictor(vlm_version)
    key = (segmenter_version.checkpoint.sha256, vlm_version.checkpoint.sha256, settings.FLAWMAP_ML_DEVICE)
    return _batchers.submit(key, lambda: MicroBatcher(
        _scores_of(segmenter, vlm), window_s=settings.FLAWMAP_INFERENCE_BATCH_WINDOW_MS / 1000,
        max_items=settings.FLAWMAP_INFERENCE_MAX_BATCH, name=f"reward-batcher-{segmenter_id}-{vlm_id}"), arrays)
