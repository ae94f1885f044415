"""The set-based selection (one SQL statement, streamed) against the label policy written out per image.

Random passes of every kind (human and model, every status, deleted, replaced, no submitted time, equal times)
on random images; for each policy, label status and class filter the snapshot's items and manifest hash must
be those the per-image rule below gives.
"""

import hashlib
import json
import random
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from backend.annotations.models import Annotation, MaskLabel, RegionLabel
from backend.core.models import Blob
from backend.images.models import GeneratedImage
from backend.mlmodels.models import ModelVersion
from backend.taxonomy.selectors import artifact_class_list
from datasets.models import Dataset, DatasetItem
from datasets.selection import Selection, selected
from datasets.services import dataset_create, dataset_version_build, dataset_version_start
from datasets.splits import global_split, group_hash
from tests.datasets.helpers import bulk_images
from tests.factories import GeneratorFactory

pytestmark = pytest.mark.django_db

STATUSES = [s.value for s in Annotation.Status]


def _blob(name: str) -> Blob:
    return Blob.objects.create(sha256=hashlib.sha256(name.encode()).hexdigest(), key=f"t/{name}", size=1,
                               content_type="image/png")


def random_passes(images, user, model, rng: random.Random) -> None:
    """0-4 passes per image, of every kind the policy has to tell apart."""
    classes = list(artifact_class_list()[:4])
    base = timezone.now() - timedelta(days=1)
    for image in images:
        for k in range(rng.randrange(5)):
            human = rng.random() < 0.6
            submitted = None if rng.random() < 0.2 else base + timedelta(minutes=rng.choice([1, 2, 2, 3]))
            annotation = Annotation.objects.create(
                image=image, user=user if human else None, model_version=None if human else model,
                status=rng.choice(STATUSES), submitted_at=submitted, no_artifacts=rng.random() < 0.1,
                is_current=rng.random() < 0.85, deleted_at=base if rng.random() < 0.1 else None)
            for m in range(rng.choice([0, 1, 1, 2])):
                MaskLabel.objects.create(annotation=annotation, blob=_blob(f"mask-{annotation.pk}-{m}"), width=8,
                                         height=8, artifact_pixels=3, par=3 / 64)
            for r in range(rng.choice([0, 1, 2])):
                x = rng.uniform(0, 4)
                RegionLabel.objects.create(annotation=annotation, x1=x, y1=0, x2=x + rng.choice([1, 2.5]), y2=3,
                                           artifact_class=rng.choice(classes), caption=f"c{k}{r} \"é\\ ✓")


def chosen_by_rule(image: GeneratedImage, policy: str) -> tuple[Annotation | None, str]:
    """The label policy as the README states it, one image at a time."""
    best = {}
    for a in image.annotations.filter(is_current=True, deleted_at=None):
        if a.user_id:
            ok = a.status == "reviewed" if policy == "reviewed_only" else a.status in ("submitted", "reviewed")
            source = "human" if ok else ""
        else:
            source = "model" if policy == "allow_model" and a.status != "rejected" else ""
        key = (a.submitted_at or a.created_at, a.pk)
        if source and (source not in best or key > best[source][0]):
            best[source] = (key, a)
    for source in ("human", "model"):
        if source in best:
            return best[source][1], source
    return None, ""


def expected_manifest(dataset: Dataset) -> list[list]:
    lines = []
    for image in GeneratedImage.objects.order_by("blob_id"):
        annotation, source = chosen_by_rule(image, dataset.label_policy)
        if annotation is None and dataset.label_status == "labelled":
            continue
        regions = [{"bbox": [r.x1, r.y1, r.x2, r.y2], "class": r.artifact_class.slug, "code": r.artifact_class.code,
                    "caption": r.caption} for r in annotation.regions.order_by("id")] if annotation else []
        if dataset.classes and not {r["class"] for r in regions} & set(dataset.classes):
            continue
        mask = annotation.masks.order_by("id").first() if annotation else None
        split = global_split(group_hash("image:" + image.blob_id), shares=dataset.splits,
                             seed=settings.FLAWMAP_SPLIT_SEED)
        lines.append([image.blob_id, annotation.pk if annotation else None, source, mask.blob_id if mask else "",
                      regions, split])
    return lines


def test_snapshot_items_and_manifest_hash_follow_the_policy_rule(annotator_user):
    rng = random.Random(7)
    images = bulk_images(120, generators=[GeneratorFactory(), GeneratorFactory()])
    model = ModelVersion.objects.create(kind="segmenter", name="tiny", version="1")
    random_passes(images, annotator_user, model, rng)
    some_class = artifact_class_list()[1].slug
    cases = [(policy, status, classes) for policy in Dataset.LabelPolicy.values
             for status in Dataset.LabelStatus.values for classes in ([], [some_class])]
    for n, (policy, status, classes) in enumerate(cases):
        dataset = dataset_create(name=f"case-{n}", label_policy=policy, label_status=status, classes=classes)
        version = dataset_version_build(version=dataset_version_start(dataset=dataset))
        lines = expected_manifest(dataset)
        assert lines, (policy, status, classes)  # every case selects something: the comparison is not empty
        stored = [[i.image_sha256, i.annotation_id, i.label_source, i.mask_sha256, i.regions, i.split]
                  for i in DatasetItem.objects.filter(version=version).order_by("image_sha256")]
        assert stored == lines, (policy, status, classes)
        digest = hashlib.sha256(b"".join(json.dumps(line, sort_keys=True).encode() + b"\n" for line in lines))
        assert version.manifest_hash == digest.hexdigest()
        assert version.counts["items"] == len(lines)


def test_selection_streams_in_batches_in_content_hash_order(annotator_user, monkeypatch):
    monkeypatch.setattr("datasets.selection.CHUNK", 7)
    images = bulk_images(30, generators=[GeneratorFactory()])
    batches = list(selected(Selection(labelled_only=False)))
    assert [len(b) for b in batches] == [7, 7, 7, 7, 2]
    assert [i.blob_id for b in batches for i in b] == sorted(image.blob_id for image in images)
