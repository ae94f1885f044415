"""The reward service: score a batch of generated images for a generator's fine-tuning loop.

Per image: PAR from the production segmenter, the artifacts the production VLM classifier finds, and the
reward of `ml.vlm.reward` (formula there and in the README). Every image is decoded and checked here, in the
web process, before the batch goes to the inference worker (backend/mlmodels/inference.py), so a bad one costs
nothing but a 400 naming it; the models run on the worker only. Nothing is stored.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from PIL import Image, UnidentifiedImageError
from rest_framework import status
from rest_framework.exceptions import APIException

from backend.core.exceptions import ApplicationError, RequestTooLarge
from backend.mlmodels.inference import reward_scores_infer
from backend.mlmodels.models import ModelVersion
from backend.mlmodels.selectors import production_models, production_route
from ml.vlm.reward import FORMULA, reward


class ModelsUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "no_production_model"


class BadImage(ApplicationError):
    """One upload is not a usable image; `index` and `name` say which."""

    def __init__(self, message: str, *, index: int, name: str):
        super().__init__(message, extra={"index": index, "name": name})
        self.index, self.name = index, name


@dataclass(frozen=True)
class RewardInput:
    name: str
    data: bytes
    prompt: str = ""


def check_limits(*, count: int, total_bytes: int) -> None:
    if count == 0:
        raise ApplicationError("send at least one image (multipart field `images`)")
    if count > settings.REWARD_MAX_IMAGES:
        raise RequestTooLarge(f"{count} images in one request; at most {settings.REWARD_MAX_IMAGES} "
                              "(REWARD_MAX_IMAGES): split the batch")
    if total_bytes > settings.REWARD_MAX_BYTES:
        raise RequestTooLarge(f"{total_bytes} bytes of images in one request; at most {settings.REWARD_MAX_BYTES} "
                              "(REWARD_MAX_BYTES): split the batch")


_UNREADABLE = (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombWarning,
               Image.DecompressionBombError)


def pixels_check(items: list[RewardInput]) -> None:
    """All images together over REWARD_MAX_TOTAL_PIXELS are a 413, judged from their headers before any image is
    decoded (each decodes to 3 bytes a pixel, all held at once). An unreadable or oversized image is left to
    `decode`, which names the first bad one in batch order."""
    total = 0
    for item in items:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                with Image.open(io.BytesIO(item.data)) as im:  # reads the header only
                    total += im.width * im.height
        except _UNREADABLE:
            continue
    if total > settings.REWARD_MAX_TOTAL_PIXELS:
        raise RequestTooLarge(f"{total} pixels in {len(items)} images; at most {settings.REWARD_MAX_TOTAL_PIXELS} "
                              "per request (REWARD_MAX_TOTAL_PIXELS): split the batch")


def decode(index: int, item: RewardInput) -> np.ndarray:
    """RGB array of one upload; ApplicationError naming its index and file name otherwise. The web app decodes
    only to check (the worker decodes again): a truncated file shows only when its pixels are read."""
    def bad(reason: str) -> BadImage:
        return BadImage(f"image {index} ({item.name}): {reason}", index=index, name=item.name)

    if not item.data:
        raise bad("empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(item.data)) as im:
                if im.width * im.height > settings.REWARD_MAX_PIXELS:
                    raise bad(f"{im.width}x{im.height} is more than REWARD_MAX_PIXELS ({settings.REWARD_MAX_PIXELS})")
                im.load()
                return np.asarray(im.convert("RGB"))
    except BadImage:
        raise
    except _UNREADABLE as exc:
        raise bad(f"not a readable image ({exc})") from exc


def serving_models(*, generator: str | None = None, task: str | None = None) -> tuple[ModelVersion, ModelVersion]:
    """The segmenter and VLM that serve images of this generator name and task slug (routing: the most specific
    scope with a production model; the unified ones when neither is given)."""
    segmenter, vlm = (production_route(production_models(kind=kind), generator=generator, task=task)
                      for kind in (ModelVersion.Kind.SEGMENTER, ModelVersion.Kind.VLM))
    missing = [label for label, m in (("segmenter (for PAR)", segmenter), ("VLM classifier", vlm)) if m is None]
    if missing:
        raise ModelsUnavailable(f"no production {' and no production '.join(missing)}: the reward needs both; "
                                "train and promote them first (POST /api/models/train, /api/models/{id}/promote)")
    return segmenter, vlm


def rewards_compute(*, items: list[RewardInput], generator: str | None = None, task: str | None = None) -> dict:
    """`generator` (name) and `task` (slug) say whose images these are, so the models of their scope score them."""
    check_limits(count=len(items), total_bytes=sum(len(i.data) for i in items))
    pixels_check(items)
    segmenter, vlm = serving_models(generator=generator, task=task)
    for i, item in enumerate(items):
        decode(i, item)  # checked one at a time, each array dropped at once
    scores = reward_scores_infer(segmenter_id=segmenter.pk, vlm_id=vlm.pk, images=[item.data for item in items])
    lam, severity = settings.REWARD_LAMBDA, settings.REWARD_SEVERITY
    results = []
    for i, (item, score) in enumerate(zip(items, scores)):
        par, regions = score["par"], score["regions"]
        results.append({
            "index": i, "name": item.name, "prompt": item.prompt, "par": round(float(par), 6),
            "artifact_classes": score["artifact_classes"],
            "artifacts": [{"class": r["class"], "bbox": r["bbox"], "caption": r["caption"]} for r in regions],
            "vlm_malformed": score["vlm_malformed"],
            "reward": round(reward(par, [r["class"] for r in regions], lam=lam, severity=severity), 6),
        })
    return {"results": results, "formula": FORMULA, "lambda": lam, "severity": severity,
            "models": {"segmenter": str(segmenter), "vlm": str(vlm)},
            "scopes": {"segmenter": segmenter.scope, "vlm": vlm.scope}}
