"""VLM pre-labels: the production classifier's boxes, classes and captions as a model Annotation of RegionLabels.

Idempotent per (image, model version): an image this version already annotated is skipped. A malformed answer
stores nothing (there is nothing trustworthy to show a labeller) and is counted. A VLM annotation never says
`no_artifacts`: that flag feeds the image's PAR, which is the segmenter's business, so a VLM answer of
"none" is an annotation without regions.
"""

from __future__ import annotations

from typing import Callable

from backend.annotations.models import Annotation
from backend.annotations.services import annotation_create, region_inputs
from backend.images.models import GeneratedImage
from backend.images.selectors import image_pixels
from backend.mlmodels.models import ModelVersion
from backend.mlmodels.predictors import vlm_predictor

Progress = Callable[[float, str], None]



def images_prelabel_vlm(*, model_version: ModelVersion, image_ids: list[int], progress: Progress | None = None) -> dict:
    done = set(Annotation.objects.filter(model_version=model_version, image_id__in=image_ids)
               .values_list("image_id", flat=True))
    todo = list(GeneratedImage.objects.filter(pk__in=image_ids).exclude(pk__in=done).select_related("blob")
                .order_by("pk"))
    predictor = vlm_predictor(model_version)
    predicted, malformed = [], 0
    step = predictor.batch_size
    for start in range(0, len(todo), step):
        batch = todo[start:start + step]
        for image, prediction in zip(batch, predictor.predict([image_pixels(im) for im in batch])):
            if prediction.malformed:
                malformed += 1
                continue
            if Annotation.objects.filter(image=image, model_version=model_version).exists():
                continue  # a concurrent run got here first
            annotation_create(image=image, model_version=model_version,
                              regions=region_inputs(((r["class"], r["bbox"], r["caption"]) for r in prediction.regions),
                                                    skip_unknown=True),
                              status=Annotation.Status.SUBMITTED)
            predicted.append(image.pk)
        if progress:
            progress(min(1.0, (start + len(batch)) / max(1, len(todo))), f"{start + len(batch)}/{len(todo)} images")
    return {"predicted": len(predicted), "malformed": malformed, "skipped": len(image_ids) - len(todo),
            "image_ids": predicted}
