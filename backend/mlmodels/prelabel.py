"""Pre-labels: the production segmenter's mask and PAR for images, stored as model Annotations (with the
model version) plus the scores active learning needs. Idempotent per (image, model version)."""

from __future__ import annotations

from typing import Callable

from django.db import transaction

from backend.annotations.masks import mask_array_to_canonical
from backend.annotations.models import Annotation
from backend.annotations.services import annotation_create
from backend.images.models import GeneratedImage
from backend.images.selectors import image_pixels
from backend.mlmodels.models import ImagePrediction, ModelVersion
from backend.mlmodels.predictors import segmenter_predictor
from ml.segmentation.uncertainty import mean_entropy, mean_margin

Progress = Callable[[float, str], None]


def images_prelabel(*, model_version: ModelVersion, image_ids: list[int], progress: Progress | None = None) -> dict:
    """Predict every listed image this model version has not predicted yet. Returns counts and the ids of
    the images that got a new pre-label."""
    done = set(ImagePrediction.objects.filter(model_version=model_version, image_id__in=image_ids)
               .values_list("image_id", flat=True))
    todo = list(GeneratedImage.objects.filter(pk__in=image_ids).exclude(pk__in=done).select_related("blob")
                .order_by("pk"))
    predictor = segmenter_predictor(model_version)
    predicted: list[int] = []
    step = predictor.batch_size
    for start in range(0, len(todo), step):
        batch = todo[start : start + step]
        results = predictor.iter_analyze([image_pixels(image) for image in batch])
        for image, (mask, prob, par, features) in zip(batch, results):
            with transaction.atomic():
                if ImagePrediction.objects.filter(image=image, model_version=model_version).exists():
                    continue  # a concurrent run got here first
                entropy = mean_entropy(prob)
                annotation = annotation_create(
                    image=image, model_version=model_version, mask=mask_array_to_canonical(mask),
                    no_artifacts=not mask.any(), score=round(1.0 - entropy, 6),
                    status=Annotation.Status.SUBMITTED,
                )
                ImagePrediction.objects.create(
                    image=image, model_version=model_version, annotation=annotation, par=par, entropy=entropy,
                    margin=mean_margin(prob),
                    features=[] if features is None else [round(float(v), 5) for v in features],
                )
            predicted.append(image.pk)
        if progress:
            progress(min(1.0, (start + len(batch)) / max(1, len(todo))), f"{start + len(batch)}/{len(todo)} images")
    return {"predicted": len(predicted), "skipped": len(image_ids) - len(todo), "image_ids": predicted}
