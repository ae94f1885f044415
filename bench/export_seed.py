"""Seeding for bench/export.py: N images through ingest and a snapshot, or N labelled items as rows in bulk.

The bulk seeding writes PNG blobs and their 0/1 masks straight into the blob folder and the rows with
bulk_create (a ready dataset version included, no snapshot): an export reads only those rows and files, and
seeding 2000 images through ingest takes minutes on a busy machine. Pictures: `photo_like` at the given size
(a few dozen generated, the rest byte variants of them: distinct files of realistic size), or 8x8 tiny ones
for the memory curve, which needs 100 000 items and measures memory as N grows, not bytes per file.
"""

import hashlib
import io
import os

import numpy as np
from PIL import Image
from support import photo_like, png_variant

BULK = 5000


def png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG", compress_level=4)
    return buf.getvalue()


def ellipse_mask(index: int, size: int) -> np.ndarray:
    rng = np.random.default_rng(index)
    yy, xx = np.mgrid[:size, :size]
    cx, cy = rng.uniform(0.2, 0.8, 2) * size
    rx, ry = rng.uniform(0.03, 0.2, 2) * size
    return ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1


def seed_ingested(n: int, size: int) -> None:
    """Ingest N photo-like images, each with a human mask, through the normal batch ingest."""
    from backend.core.roles import Role
    from backend.core.users import user_get_or_create_with_role
    from backend.images.batch import images_ingest_batch
    from backend.images.models import Generator, SynthesisTask
    from backend.images.services import IngestItem

    generator = Generator.objects.create(name="bench", version="1")
    task = SynthesisTask.objects.get(slug="other")
    annotator = user_get_or_create_with_role(username="bench", role=Role.ANNOTATOR)

    def items():
        for i in range(n):
            yield IngestItem(name=f"img_{i:06d}.png", data=png(photo_like(i, size)), mask_name=f"mask_{i}.png",
                             mask_data=png(ellipse_mask(i, size).astype(np.uint8)))

    report = images_ingest_batch(items=items(), generator=generator, task=task, annotator=annotator)
    if report.ingested != n:
        raise SystemExit(f"seeding stored {report.ingested} of {n} images: {report.rejected[:3]}")


PICTURES = 48


def photo_pair(size: int):
    """index -> (image PNG, mask PNG) of realistic size: PICTURES generated pictures and masks, then variants."""
    cache: dict[int, tuple[bytes, bytes]] = {}

    def make(index: int) -> tuple[bytes, bytes]:
        base = index % PICTURES
        if base not in cache:
            cache[base] = (png(photo_like(base, size)), png(ellipse_mask(base, size).astype(np.uint8)))
        image, mask = cache[base]
        return png_variant(image, index), png_variant(mask, index)

    return make


def tiny_pair(index: int) -> tuple[bytes, bytes]:
    image = np.zeros((8, 8, 3), np.uint8)
    image.reshape(-1)[:8] = np.frombuffer(index.to_bytes(8, "little"), np.uint8)  # distinct bytes per index
    mask = np.zeros((8, 8), np.uint8)
    mask.reshape(-1)[:40] = [(index >> bit) & 1 for bit in range(40)]  # distinct masks (no blob shared by all)
    mask[7, 7] = 1  # never empty
    return png(image), png(mask)


def seed_version(n: int, *, name: str, start: int = 0, make=tiny_pair, size: int = 8):
    """A ready dataset version of N labelled items (image + mask blob each, from `make(index)`), in bulk."""
    from backend.annotations.models import Annotation, MaskLabel
    from backend.core.blobs import blob_key_for, blob_storage
    from backend.core.models import Blob
    from backend.core.roles import Role
    from backend.core.users import user_get_or_create_with_role
    from backend.images.models import GeneratedImage, Generator, SynthesisTask
    from datasets.models import Dataset, DatasetItem, DatasetVersion

    generator, _ = Generator.objects.get_or_create(name="bench-tiny", version="1")
    task = SynthesisTask.objects.get(slug="other")
    user = user_get_or_create_with_role(username="bench", role=Role.ANNOTATOR)
    dataset = Dataset.objects.create(name=name, splits={"train": 0.8, "val": 0.1, "test": 0.1})
    version = DatasetVersion.objects.create(dataset=dataset, number=1, status=DatasetVersion.Status.READY,
                                            counts={"items": n})
    storage = blob_storage()
    splits = ["train"] * 8 + ["val", "test"]
    for offset in range(0, n, BULK):
        blobs, rows = [], []
        for i in range(start + offset, start + min(n, offset + BULK)):
            image, mask = make(i)
            pair = []
            for data in (image, mask):
                sha = hashlib.sha256(data).hexdigest()
                key = blob_key_for(sha256=sha, content_type="image/png")
                path = storage.path(key)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "wb") as fh:
                    fh.write(data)
                blobs.append(Blob(sha256=sha, key=key, size=len(data), content_type="image/png"))
                pair.append(sha)
            rows.append((i, *pair))
        Blob.objects.bulk_create(blobs)
        images = GeneratedImage.objects.bulk_create([
            GeneratedImage(blob_id=sha, width=size, height=size, format="PNG", generator=generator, task=task,
                           is_labelled=True) for _, sha, _ in rows])
        annotations = Annotation.objects.bulk_create([Annotation(image=image, user=user) for image in images])
        MaskLabel.objects.bulk_create([
            MaskLabel(annotation=a, blob_id=mask_sha, width=size, height=size, artifact_pixels=1,
                      par=1 / size**2)
            for a, (_, _, mask_sha) in zip(annotations, rows)])
        DatasetItem.objects.bulk_create([
            DatasetItem(version=version, image=image, image_sha256=sha, annotation=a, label_source="human",
                        mask_sha256=mask_sha, regions=[], split=splits[i % 10], group=sha)
            for image, a, (i, sha, mask_sha) in zip(images, annotations, rows)])
    return version
