"""Sending labelled images back for review: the task starts from the newest human pass (shown in Label Studio as
a prediction the reviewer corrects or accepts) instead of the model's guess."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from annotator.converter import LSRegion, labels_to_results
from backend.annotations.models import Annotation
from backend.annotations.services import LABELLED_STATUSES
from backend.core.blobs import blob_read
from backend.images.models import GeneratedImage

# What a push starts each task from: the model's pre-label (labelling) or the newest human pass (review).
STARTING_POINTS = ("model", "human")


def human_prediction_for(image: GeneratedImage) -> tuple[dict | None, Annotation | None]:
    """The newest current submitted or reviewed human pass as one Label Studio prediction, and that pass; (None,
    None) when the image has none. Reads the image's prefetched annotations (masks, regions, users)."""
    passes = [a for a in image.annotations.all()
              if a.user_id and a.is_current and a.deleted_at is None and a.status in LABELLED_STATUSES]
    if not passes:
        return None, None
    annotation = max(passes, key=lambda a: (a.submitted_at or a.created_at, a.pk))
    masks = list(annotation.masks.all())
    mask = None
    if masks:
        with Image.open(io.BytesIO(blob_read(masks[0].blob))) as decoded:
            mask = np.asarray(decoded) != 0
    regions = [LSRegion(r.x1, r.y1, r.x2, r.y2, r.artifact_class.name, r.caption) for r in annotation.regions.all()]
    result = labels_to_results(mask=mask, regions=regions, width=image.width, height=image.height,
                               no_artifacts=annotation.no_artifacts)
    return {"model_version": f"human pass {annotation.pk} ({annotation.user.username}), for review",
            "result": result}, annotation
