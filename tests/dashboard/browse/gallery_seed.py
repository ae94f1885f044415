"""Seeds for the gallery tests: the dashboard's hand-checkable history (tests/dashboard/conftest.py) with the
stored-pass receivers run, and a small set of hand-made mask pairs whose disagreement is worked out by hand.

Pairs (images 40x25 = 1000 px; "first N" = the first N pixels in reading order, "last N" = the last N):
  agree      human first 400, model first 400          → 1 - IoU = 0,              differ 0
  half       human first 400, model first 200          → 1 - 200/400 = 0.5,        differ 200
  missed     human "no artifacts", model first 100     → 1 - 0/100 = 1,            differ 100
  disjoint   human first 100, model last 100           → 1 - 0/200 = 1,            differ 200
  human-only human first 50, no model pass             → none
Order by disagreement (ties: more differing pixels first, none last): disjoint, missed, half, agree, human-only.
In `half`, a newer pass by a candidate model (first 400: it would agree) is ignored: the production model's counts.
"""

from __future__ import annotations

import numpy as np
from django.contrib.auth.models import User

from backend.annotations.masks import mask_array_to_canonical
from backend.annotations.services import annotation_create
from backend.core.blobs import atomic_with_blobs, blob_store
from backend.mlmodels.models import ModelVersion
from backend.mlmodels.services import model_promote
from tests.conftest import png_bytes
from tests.factories import GeneratorFactory, make_image

W, H = 40, 25
DISAGREEMENT_ORDER = ["disjoint", "missed", "half", "agree", "human-only"]
EXPECTED = {"agree": (0.0, 0), "half": (0.5, 200), "missed": (1.0, 100), "disjoint": (1.0, 200),
            "human-only": (None, None)}


def mask(*, first: int = 0, last: int = 0):
    flat = np.zeros(W * H, dtype=bool)
    flat[:first] = True
    if last:
        flat[-last:] = True
    return mask_array_to_canonical(flat.reshape(H, W))


def segmenter(version: str) -> ModelVersion:
    with atomic_with_blobs():
        checkpoint = blob_store(data=f"weights {version}".encode(), content_type="application/octet-stream")
    return ModelVersion.objects.create(kind="segmenter", name="finder", version=version, checkpoint=checkpoint)


def seed_mask_pairs() -> dict[str, int]:
    """The pairs above; returns name → image id. Run with the on-commit callbacks executed (the receivers)."""
    carol = User.objects.create_user("carol")
    generator = GeneratorFactory(name="pairs", version="")
    production, candidate = segmenter("1"), segmenter("2")
    model_promote(model_version=production)
    pairs = {"agree": ({"first": 400}, {"first": 400}), "half": ({"first": 400}, {"first": 200}),
             "missed": (None, {"first": 100}), "disjoint": ({"first": 100}, {"last": 100}),
             "human-only": ({"first": 50}, None)}
    ids = {}
    for seed, (name, (human, model)) in enumerate(pairs.items(), start=20):
        image = make_image(data=png_bytes(width=W, height=H, seed=seed), generator=generator)
        if model is not None:
            annotation_create(image=image, model_version=production, mask=mask(**model))
        if name == "half":
            annotation_create(image=image, model_version=candidate, mask=mask(first=400))
        if human is None:
            annotation_create(image=image, user=carol, no_artifacts=True)
        else:
            annotation_create(image=image, user=carol, mask=mask(**human))
        ids[name] = image.pk
    return ids
