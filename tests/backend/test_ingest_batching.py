"""Batched ingest (backend/images/batch.py, batch_store.py): runs of plain images stored in one transaction,
with the results of storing them one after another, and a fallback to one by one when a batch fails."""

import numpy as np
import pytest
from django.db import IntegrityError

from backend.core.models import Blob
from backend.images import batch
from backend.images.batch import images_ingest_batch
from backend.images.models import ConditionalInput, GeneratedImage, SynthesisTask
from backend.images.services import ConditionalFile, IngestItem, ItemRejected
from tests.backend.storage_checks import assert_storage_matches_tables
from tests.conftest import mask_bytes, png_bytes
from tests.factories import GeneratorFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def gen():
    return GeneratorFactory(name="batchgen", version="1")


@pytest.fixture
def t2i():
    return SynthesisTask.objects.get(slug="text_to_image")


def plain(i: int, **fields) -> IngestItem:
    return IngestItem(name=f"img{i}.png", data=png_bytes(24, 16, seed=i), **fields)


def test_a_mixed_stream_gives_the_results_of_one_by_one(gen, t2i, annotator_user, monkeypatch):
    monkeypatch.setattr(batch, "STORE_BATCH", 4)  # several batches, and runs cut by the other kinds of item
    mask = np.zeros((16, 24), bool)
    mask[:4] = True
    already = images_ingest_batch(items=[plain(0)], generator=gen, task=t2i).image_ids[0]
    items = [
        plain(1, prompt="first", seed=11, domain="d", metadata={"k": 1}), plain(2),
        plain(0),                                  # stored before this ingest: a duplicate of that image
        plain(1, prompt="again"),                  # same bytes as item 1 in this batch: a duplicate of it
        IngestItem(name="bad.png", data=b"not an image"),
        ItemRejected("gone.png", "unreadable"),
        plain(3, mask_name="m3.png", mask_data=mask_bytes(mask)),
        plain(4, conditional_inputs=[ConditionalFile("prompt_text", "p.txt", b"a cat")]),
        *[plain(i) for i in range(5, 15)],
    ]
    report = images_ingest_batch(items=items, generator=gen, task=t2i, annotator=annotator_user)

    assert report.ingested == 14 and report.duplicates == 2
    assert [r["path"] for r in report.rejected] == ["bad.png", "gone.png"]
    by_name = {image.original_name: image for image in GeneratedImage.objects.all()}
    first = by_name["img1.png"]
    assert (first.prompt, first.seed, first.domain, first.metadata) == ("first", 11, "d", {"k": 1})
    assert (first.width, first.height, first.format, first.generator, first.task) == (24, 16, "PNG", gen, t2i)
    expected = [by_name[f"img{i}.png"].pk for i in (1, 2)] + [already, first.pk] + [
        by_name[f"img{i}.png"].pk for i in range(3, 15)]
    assert report.image_ids == expected  # in the order of the items
    assert by_name["img3.png"].is_labelled and ConditionalInput.objects.filter(image=by_name["img4.png"]).exists()
    assert_storage_matches_tables()


def test_plain_images_are_stored_in_few_statements(gen, t2i, django_assert_max_num_queries):
    items = [plain(i) for i in range(2 * batch.STORE_BATCH)]
    with django_assert_max_num_queries(2 * 10):  # per batch: look-ups, lock, two inserts, savepoint; not per image
        report = images_ingest_batch(items=items, generator=gen, task=t2i)
    assert report.ingested == len(items)
    assert_storage_matches_tables()


def test_a_batch_that_meets_a_concurrent_writer_is_stored_one_by_one(gen, t2i, monkeypatch):
    def lost_race(*args, **kwargs):
        raise IntegrityError("duplicate key value violates unique constraint")

    monkeypatch.setattr(GeneratedImage.objects, "bulk_create", lost_race)
    report = images_ingest_batch(items=[plain(i) for i in range(6)] + [plain(2)], generator=gen, task=t2i)
    assert (report.ingested, report.duplicates, report.rejected) == (6, 1, [])
    assert GeneratedImage.objects.count() == 6
    assert_storage_matches_tables()  # the rolled-back batch's files went with it


def test_a_batch_that_fails_otherwise_leaves_neither_rows_nor_files(gen, t2i, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(GeneratedImage.objects, "bulk_create", boom)
    with pytest.raises(RuntimeError):
        images_ingest_batch(items=[plain(i) for i in range(5)], generator=gen, task=t2i)
    assert not Blob.objects.exists() and not GeneratedImage.objects.exists()
    assert_storage_matches_tables()
