"""A small, hand-checkable world for the image and version pages (Django client and Chromium tests).

Images are 40x25 = 1000 pixels, so a mask of N pixels has PAR N/1000.

image    passes (newest last)                                              other
main     alice 30 s 8x5 box mask (PAR 0.04), region "first look";          prompt, an edge-map input, a fix
         then alice 45 s 10x10 mask (PAR 0.1, replaces it), 2 regions;     (image `fixed`), pushed to campaign
         model pal@1 score 0.7, 20x5 mask (PAR 0.1)                         "launch" as Label Studio task 4242
stable   bob 20 s, no artifacts                                            same label in v1 and v2
relabel  bob 25 s 5 px (0.005); after v1 carol replaces it: 50 px (0.05)    relabelled in v2
gone     carol 10 s 30 px; after v1 the pass is deleted upstream           removed in v2 (no label left)
moved    carol 12 s 40 px                                                  its v2 split is set apart by hand
late     bob 15 s 60 px, stored after v1                                   added in v2
fixed    - (made by fixing `main`: PAR 0.1 before, 0.0 after)              unlabelled, in no version
"""

from __future__ import annotations

import numpy as np
import pytest

from annotator.models import Campaign, CampaignTask
from backend.annotations.masks import mask_array_to_canonical
from backend.annotations.services import annotation_create, annotation_mark_deleted, region_inputs
from backend.images.models import SynthesisTask
from backend.images.services import ConditionalFile, IngestItem, image_ingest
from backend.mlmodels.models import ModelVersion
from backend.taxonomy.selectors import artifact_class_list
from datasets.models import DatasetItem
from datasets.services import dataset_create, dataset_version_build, dataset_version_start
from tests.conftest import _user, png_bytes
from tests.factories import GeneratorFactory, make_image

W, H = 40, 25
LS_TASK_ID = 4242


def rect_mask(x1: int, y1: int, x2: int, y2: int):
    mask = np.zeros((H, W), dtype=bool)
    mask[y1:y2, x1:x2] = True
    return mask_array_to_canonical(mask)


def pixels_mask(pixels: int):
    flat = np.zeros(W * H, dtype=bool)
    flat[:pixels] = True
    return mask_array_to_canonical(flat.reshape(H, W))


def seed_page_world(admin) -> dict:
    alice, bob, carol = _user("alice", None), _user("bob", None), _user("carol", None)
    reviewer = _user("rita-reviewer", "reviewer")
    generator = GeneratorFactory(name="gen-p", version="")
    pal = ModelVersion.objects.create(kind="segmenter", name="pal", version="1")
    first, second = list(artifact_class_list())[:2]
    task = SynthesisTask.objects.get(slug="text_to_image")

    main = image_ingest(item=IngestItem(
        name="main.png", data=png_bytes(W, H, seed=21), prompt="a red bicycle in the rain", seed=7,
        conditional_inputs=[ConditionalFile(role="edge", name="edges.png", data=png_bytes(W, H, seed=22))],
    ), generator=generator, task=task).image

    def image(seed):
        return make_image(data=png_bytes(W, H, seed=seed), generator=generator)

    stable, relabel, gone, moved = image(23), image(24), image(25), image(26)
    old = annotation_create(image=main, user=alice, lead_time=30, mask=rect_mask(0, 0, 8, 5),
                            regions=region_inputs([(first.slug, (0, 0, 8, 5), "first look")]))
    new = annotation_create(image=main, user=alice, lead_time=45, mask=rect_mask(10, 5, 20, 15), replaces=old,
                            regions=region_inputs([(first.slug, (10, 5, 20, 15), "warped spokes"),
                                                   (second.slug, (2, 2, 6, 8), "")]))
    model = annotation_create(image=main, model_version=pal, score=0.7, mask=rect_mask(20, 20, 40, 25))
    annotation_create(image=stable, user=bob, lead_time=20, no_artifacts=True)
    relabel_old = annotation_create(image=relabel, user=bob, lead_time=25, mask=pixels_mask(5))
    gone_pass = annotation_create(image=gone, user=carol, lead_time=10, mask=pixels_mask(30))
    annotation_create(image=moved, user=carol, lead_time=12, mask=pixels_mask(40))

    fixed = image(27)
    fixed.fixed_from, fixed.fix_par_before, fixed.fix_par_after = main, 0.1, 0.0
    fixed.save(update_fields=["fixed_from", "fix_par_before", "fix_par_after"])
    campaign = Campaign.objects.create(name="launch", generator=generator, ls_project_id=77)
    CampaignTask.objects.create(campaign=campaign, image=main, ls_task_id=LS_TASK_ID)

    dataset = dataset_create(name="pages", generators=[generator])
    v1 = dataset_version_build(version=dataset_version_start(dataset=dataset, author=admin, note="first cut"))
    relabel_new = annotation_create(image=relabel, user=carol, lead_time=33, mask=pixels_mask(50),
                                    replaces=relabel_old)
    annotation_mark_deleted(annotation=gone_pass)
    late = image(28)
    annotation_create(image=late, user=bob, lead_time=15, mask=pixels_mask(60))
    v2 = dataset_version_build(version=dataset_version_start(dataset=dataset, author=admin, note="second cut"))
    # Splits follow the content hash, so no real change moves an item: set one apart by hand for the diff.
    item = DatasetItem.objects.get(version=v2, image=moved)
    item.split = "val" if item.split != "val" else "test"
    item.save(update_fields=["split"])
    return {
        "users": {"alice": alice, "bob": bob, "carol": carol, "reviewer": reviewer},
        "images": {"main": main, "stable": stable, "relabel": relabel, "gone": gone, "moved": moved, "late": late,
                   "fixed": fixed},
        "passes": {"old": old, "new": new, "model": model, "relabel_old": relabel_old, "relabel_new": relabel_new},
        "model": pal, "campaign": campaign, "dataset": dataset, "v1": v1, "v2": v2,
    }


@pytest.fixture
def page_world(admin_user):
    return seed_page_world(admin_user)
