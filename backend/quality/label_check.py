"""The label-error finder's stored figures: 1 - IoU between an image's human mask and its production segmenter's
mask, the differing pixel area, the model's uncertainty and the representative pass; one row per image, refreshed
when the image's passes change, so the browser sorts by them without computing anything per request."""

from __future__ import annotations

import io
from collections import defaultdict

import numpy as np
from PIL import Image

from backend.annotations.models import Annotation
from backend.annotations.services import LABELLED_STATUSES
from backend.core.blobs import blob_read
from backend.mlmodels.models import ImagePrediction, ModelVersion
from backend.quality.models import ImageLabelCheck


def mask_disagreement(human: np.ndarray, model: np.ndarray) -> tuple[float, int]:
    """(1 - IoU, pixels on which they differ) of two boolean masks of one size; two empty masks agree (0.0)."""
    if human.shape != model.shape:
        raise ValueError(f"masks of {human.shape} and {model.shape} cannot be compared")
    union = int(np.count_nonzero(human | model))
    differing = int(np.count_nonzero(human ^ model))
    return (differing / union if union else 0.0), differing


def _drawn(annotation: Annotation) -> bool:
    """A pass that says something about the pixels: a mask, or "no artifacts" (an empty mask)."""
    return annotation.no_artifacts or bool(annotation.masks.all())


def _representatives(passes: list[Annotation]) -> tuple[Annotation | None, Annotation | None]:
    """(newest labelled human pass, newest model pass) that draw something: the label summary's rule
    (backend/annotations/services.py: label_summary), passes newest first."""
    human = next((a for a in passes if a.user_id and a.status in LABELLED_STATUSES and _drawn(a)), None)
    model = next((a for a in passes if a.model_version_id and _drawn(a)), None)
    return human, model


def _segmenter_pass(passes: list[Annotation]) -> Annotation | None:
    """The production segmenter's newest pass; without one, the newest segmenter pass (the model that served the
    image then)."""
    segmenter = [a for a in passes if a.model_version_id and a.model_version.kind == ModelVersion.Kind.SEGMENTER
                 and _drawn(a)]
    production = [a for a in segmenter if a.model_version.status == ModelVersion.Status.PRODUCTION]
    return (production or segmenter or [None])[0]


def _mask(annotation: Annotation, shape: tuple[int, int]) -> np.ndarray:
    masks = list(annotation.masks.all())
    if not masks:
        return np.zeros(shape, dtype=bool)  # "no artifacts"
    with Image.open(io.BytesIO(blob_read(masks[0].blob))) as decoded:
        return np.asarray(decoded) != 0


def image_label_checks_refresh(*, image_ids: list[int]) -> dict[int, ImageLabelCheck]:
    """Recompute these images' rows from their current passes: the same few queries for any batch (the
    webhook drain stores hundreds of passes at a time), a mask decode per image that has both a human and a
    segmenter pass. Masks are read before the write (storage may be remote). Images left with no current pass
    lose their row. Returns the rows written, by image id."""
    image_ids = sorted(set(image_ids))
    passes: dict[int, list[Annotation]] = defaultdict(list)
    # The passes the label summary is computed from (backend/annotations/services.py), newest first per image.
    for annotation in (Annotation.objects.filter(image_id__in=image_ids, is_current=True)
                       .exclude(status__in=[Annotation.Status.DRAFT, Annotation.Status.REJECTED])
                       .select_related("image", "model_version").prefetch_related("masks__blob")
                       .order_by("image_id", "-submitted_at", "-id")):
        passes[annotation.image_id].append(annotation)
    uncertainty: dict[int, float] = {}
    for image_id, entropy in (ImagePrediction.objects.filter(image_id__in=list(passes),
                                                              model_version__kind=ModelVersion.Kind.SEGMENTER)
                              .order_by("image_id", "-created_at", "-id").values_list("image_id", "entropy")):
        uncertainty.setdefault(image_id, entropy)  # the newest
    rows = {image_id: _check(image_id, image_passes, uncertainty.get(image_id))
            for image_id, image_passes in passes.items()}
    ImageLabelCheck.objects.filter(image_id__in=[i for i in image_ids if i not in passes]).delete()
    ImageLabelCheck.objects.bulk_create(
        rows.values(), update_conflicts=True, unique_fields=["image"],
        update_fields=["representative", "human", "model", "disagreement", "differing_pixels", "uncertainty",
                       "updated_at"])
    return rows


def image_label_check_refresh(*, image_id: int) -> ImageLabelCheck | None:
    """One image's row (None when it has no current pass): `image_label_checks_refresh` of one."""
    return image_label_checks_refresh(image_ids=[image_id]).get(image_id)


def _check(image_id: int, passes: list[Annotation], uncertainty: float | None) -> ImageLabelCheck:
    human, representative_model = _representatives(passes)
    model = _segmenter_pass(passes)
    disagreement = differing = None
    if human is not None and model is not None:
        shape = (human.image.height, human.image.width)
        disagreement, differing = mask_disagreement(_mask(human, shape), _mask(model, shape))
    return ImageLabelCheck(image_id=image_id, representative=human or representative_model, human=human,
                           model=model, disagreement=disagreement, differing_pixels=differing,
                           uncertainty=uncertainty)
