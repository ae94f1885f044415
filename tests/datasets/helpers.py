import hashlib

import numpy as np

from backend.annotations.masks import mask_array_to_canonical
from backend.annotations.services import RegionInput, annotation_create
from backend.core.models import Blob
from backend.images.models import GeneratedImage, SynthesisTask
from backend.taxonomy.selectors import artifact_class_list
from tests.conftest import png_bytes
from tests.factories import make_image


def labelled_image(user, *, seed: int, generator=None, task_slug="text_to_image", size=(24, 16), rows=3, **fields):
    """An ingested image with one human annotation: a mask on the first `rows` rows and a box over it."""
    w, h = size
    image = make_image(data=png_bytes(w, h, seed=seed), generator=generator, task_slug=task_slug, **fields)
    mask = np.zeros((h, w), dtype=bool)
    mask[:rows] = True
    cls = artifact_class_list().get(slug="localized-blur")
    annotation_create(image=image, user=user, mask=mask_array_to_canonical(mask), lead_time=30.0,
                      regions=[RegionInput(0, 0, w, rows, cls, f"blur {seed}")] if rows else [])
    return image


def bulk_images(n: int, *, generators, start: int = 0) -> list[GeneratedImage]:
    """n unlabelled image rows in two INSERTs, dealt round-robin over `generators`: for selection and splits,
    which read rows only (no files are written, so nothing may export or open them)."""
    task = SynthesisTask.objects.get(slug="text_to_image")
    blobs = Blob.objects.bulk_create([
        Blob(sha256=hashlib.sha256(f"bulk-image-{i}".encode()).hexdigest(), key=f"bulk/{i}.png", size=1,
             content_type="image/png") for i in range(start, start + n)])
    return GeneratedImage.objects.bulk_create([
        GeneratedImage(blob=blob, width=8, height=8, format="PNG", generator=generators[i % len(generators)],
                       task=task) for i, blob in enumerate(blobs)])


def png_split(seed: int, size: tuple[int, int]) -> str:
    """The global split (default shares and the instance's seed) of the `png_bytes(*size, seed=seed)` image."""
    from django.conf import settings

    from datasets.models import DEFAULT_SPLITS
    from datasets.splits import global_split, group_hash

    group = group_hash("image:" + hashlib.sha256(png_bytes(*size, seed=seed)).hexdigest())
    return global_split(group, shares=DEFAULT_SPLITS, seed=settings.FLAWMAP_SPLIT_SEED)


def seeds_in_split(split: str, n: int, *, size: tuple[int, int], start: int = 9000) -> list[int]:
    """The first n seeds from `start` whose images fall in `split` (a benchmark holds only test images)."""
    seeds, seed = [], start
    while len(seeds) < n:
        if png_split(seed, size) == split:
            seeds.append(seed)
        seed += 1
    return seeds


def seeds_covering_splits(n: int, *, size: tuple[int, int], start: int) -> list[int]:
    """n seeds from `start` on whose images fill train, val and test. Splits are a hash of the image, so a
    handful of images leaves a split empty by chance (0.9**20: 12 % of 20-image sets have no test image);
    a test that trains and scores needs all three."""
    seeds = list(range(start, start + n))
    for split in ("test", "val"):
        if not any(png_split(s, size) == split for s in seeds):
            replace = next(i for i in range(len(seeds) - 1, -1, -1) if png_split(seeds[i], size) == "train")
            seeds[replace] = seeds_in_split(split, 1, size=size, start=start + n)[0]
    return seeds
