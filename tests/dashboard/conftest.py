"""A small, hand-checkable history for the dashboard tests (client and browser).

Images are 40x25 = 1000 pixels, so a mask with N artifact pixels has PAR N/1000 exactly. The expected
figures in EXPECTED are worked out by hand from the table below, not by the code under test.

image  generator  task           human pass (annotator, seconds, mask pixels)   other
a1     gen-a      text_to_image  alice 60, "no artifacts" (PAR 0)
a2     gen-a      text_to_image  alice 30, 5 px (0.005)
a3     gen-a      text_to_image  bob 120, 30 px (0.03)
a4     gen-a      text_to_image  bob 40, 300 px (0.3)
a5     gen-a      inpainting     alice 90, 80 px (0.08)
b1     gen-b      inpainting     bob 20, 150 px (0.15)
b2     gen-b      inpainting     alice 25, 600 px (0.6)                       model pre-label first: assisted
b3     gen-b      text_to_image  -                                             model pass only, 100 px (0.1)
b4     gen-b      text_to_image  -                                             unlabelled
"""

from __future__ import annotations

import numpy as np
import pytest
from django.contrib.auth.models import User

from annotator.models import Campaign
from backend.annotations.masks import mask_array_to_canonical
from backend.annotations.services import annotation_create
from backend.core.blobs import atomic_with_blobs, blob_store
from backend.jobs.models import Job
from backend.mlmodels.models import ModelVersion
from backend.mlmodels.services import model_promote
from datasets.services import dataset_create, dataset_version_build, dataset_version_start
from learning.services.rounds import learning_round_record
from tests.conftest import png_bytes
from tests.dashboard.chromium import browser  # noqa: F401  (fixture: headless Chromium for every page test here)
from tests.factories import GeneratorFactory, make_image

W, H = 40, 25
PAR_BINS = ["0", "(0, 1%)", "[1%, 5%)", "[5%, 10%)", "[10%, 20%)", "[20%, 50%)", "[50%, 100%]"]

EXPECTED = {
    "images": 9, "labelled": 7, "annotations": 9, "generators": 2,
    # Human masks, per task, in PAR_BINS order (datasets/datasheet.py's bins).
    "par_histograms": {"text_to_image": [1, 1, 1, 0, 0, 1, 0], "inpainting": [0, 0, 0, 1, 1, 0, 1]},
    "model_par_histograms": {"text_to_image": [0, 0, 0, 0, 1, 0, 0]},
    # Mean human PAR per (generator, task); gen-b has no human-labelled text_to_image image.
    "average_par": {("gen-a", "text_to_image"): (0.08375, 4), ("gen-a", "inpainting"): (0.08, 1),
                    ("gen-b", "inpainting"): (0.375, 2)},
    # Labelling time: 7 counted passes.
    "time_overall": {"count": 7, "median_s": 40.0, "total_s": 385.0},
    "time_by_annotator": {"alice": (4, 45.0), "bob": (3, 40.0)},
    "time_by_generator": {"gen-a": (5, 60.0), "gen-b": (2, 22.5)},
    "time_by_task": {"inpainting": (3, 25.0), "text_to_image": (4, 50.0)},
    "time_assisted": {"assisted": (1, 25.0), "unassisted": (6, 50.0)},
    "median_saving_s": 25.0,
    "jobs_by_status": {"queued": 0, "running": 1, "succeeded": 2, "failed": 1, "cancelled": 0},
    "dataset_items": 7,
}


def _mask(pixels: int):
    flat = np.zeros(W * H, dtype=bool)
    flat[:pixels] = True
    return mask_array_to_canonical(flat.reshape(H, W))


def _model(version: str, *, t2i: float, inpainting: float) -> ModelVersion:
    with atomic_with_blobs():
        checkpoint = blob_store(data=f"weights {version}".encode(), content_type="application/octet-stream")
    metrics = {"test": {"split": "test", "mIoU": 0.5, "artifact_IoU": (t2i + inpainting) / 2, "images": 5,
                        "tasks": {"text_to_image": {"artifact_IoU": t2i, "images": 3},
                                  "inpainting": {"artifact_IoU": inpainting, "images": 2}}}}
    return ModelVersion.objects.create(kind="segmenter", name="pal", version=version, checkpoint=checkpoint,
                                       metrics=metrics)


def seed_dashboard_history(admin) -> dict:
    alice, bob = User.objects.create_user("alice"), User.objects.create_user("bob")
    gen_a, gen_b = GeneratorFactory(name="gen-a", version=""), GeneratorFactory(name="gen-b", version="")
    pal1, pal2 = _model("1", t2i=0.25, inpainting=0.35), _model("2", t2i=0.4, inpainting=0.45)

    def image(seed, generator, task="text_to_image"):
        return make_image(data=png_bytes(width=W, height=H, seed=seed), generator=generator, task_slug=task)

    a1, a2, a3, a4 = (image(s, gen_a) for s in (1, 2, 3, 4))
    a5 = image(5, gen_a, "inpainting")
    b1, b2 = image(6, gen_b, "inpainting"), image(7, gen_b, "inpainting")
    b3, _b4 = image(8, gen_b), image(9, gen_b)
    annotation_create(image=a1, user=alice, lead_time=60, no_artifacts=True)
    annotation_create(image=a2, user=alice, lead_time=30, mask=_mask(5))
    annotation_create(image=a3, user=bob, lead_time=120, mask=_mask(30))
    annotation_create(image=a4, user=bob, lead_time=40, mask=_mask(300))
    annotation_create(image=a5, user=alice, lead_time=90, mask=_mask(80))
    annotation_create(image=b1, user=bob, lead_time=20, mask=_mask(150))
    annotation_create(image=b2, model_version=pal1, mask=_mask(10))  # the pre-label makes alice's pass assisted
    annotation_create(image=b2, user=alice, lead_time=25, mask=_mask(600))
    annotation_create(image=b3, model_version=pal1, mask=_mask(100))

    # Learning rounds around promotions: round 1 before any model, round 2 picked by pal@1, which pal@2 then
    # replaced; pal@1 is rolled back to last.
    campaign = Campaign.objects.create(name="gen-b launch", generator=gen_b)
    learning_round_record(campaign=campaign, strategy="random", k=2, candidates=4, picked=2, pushed=2,
                          model_version=None)
    model_promote(model_version=pal1)
    learning_round_record(campaign=campaign, strategy="uncertainty", k=3, candidates=2, picked=2, pushed=1,
                          model_version=pal1)
    model_promote(model_version=pal2)
    model_promote(model_version=pal1)

    for kind, status in (("prelabel", "succeeded"), ("prelabel", "succeeded"), ("train_segmenter", "failed"),
                         ("export", "running")):
        Job.objects.create(kind=kind, status=status, subject=campaign)

    dataset = dataset_create(name="unified-test", description="Every <b>human</b>-labelled image.")
    version = dataset_version_build(version=dataset_version_start(dataset=dataset, author=admin, note="first cut"))
    return {"generators": (gen_a, gen_b), "models": (pal1, pal2), "campaign": campaign, "dataset_version": version}


@pytest.fixture
def dashboard_history(admin_user):
    return seed_dashboard_history(admin_user)
