import numpy as np
import pytest

from backend.annotations.models import Annotation, MaskLabel
from backend.core.exceptions import ApplicationError
from backend.core.models import Blob
from backend.images.models import GeneratedImage, SynthesisTask
from backend.images.services import (
    ConditionalFile,
    IngestItem,
    ItemRejected,
    generator_resolve,
    image_ingest,
    task_resolve,
)
from tests.backend.storage_checks import assert_storage_matches_tables
from tests.conftest import mask_bytes, png_bytes
from tests.factories import GeneratorFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def gen():
    return GeneratorFactory(name="sdxl", version="1.0")


@pytest.fixture
def t2i():
    return SynthesisTask.objects.get(slug="text_to_image")


def ingest(gen, task, **item):
    item.setdefault("name", "img.png")
    return image_ingest(item=IngestItem(**item), generator=gen, task=task)


def test_ingest_stores_blob_row_and_metadata(gen, t2i):
    data = png_bytes(40, 30)
    outcome = ingest(gen, t2i, data=data, prompt="a cat", seed=7, domain="animal", source_uri="s3://x/y.png")
    image = outcome.image
    assert outcome.created
    assert (image.width, image.height, image.format) == (40, 30, "PNG")
    assert image.sha256 == Blob.objects.get().sha256 and len(image.sha256) == 64
    assert (image.prompt, image.seed, image.domain) == ("a cat", 7, "animal")
    assert image.blob.size == len(data)
    assert_storage_matches_tables()


def test_same_bytes_are_stored_once(gen, t2i):
    data = png_bytes()
    first = ingest(gen, t2i, data=data)
    second = ingest(gen, t2i, data=data, name="copy.png")
    assert not second.created and second.image.pk == first.image.pk
    assert GeneratedImage.objects.count() == 1 and Blob.objects.count() == 1


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"this is not an image", "not an image"),
        (png_bytes(64, 64)[:300], "truncated"),
        (b"", "empty file"),
    ],
)
def test_bad_files_are_rejected_with_reason_and_nothing_stored(gen, t2i, data, reason):
    with pytest.raises(ItemRejected) as err:
        ingest(gen, t2i, data=data, name="bad.png")
    assert err.value.path == "bad.png" and reason in err.value.error
    assert GeneratedImage.objects.count() == 0
    assert_storage_matches_tables()


def test_decompression_bomb_is_rejected_before_decoding(gen, t2i, settings):
    settings.FLAWMAP_MAX_PIXELS = 1000
    with pytest.raises(ItemRejected, match="FLAWMAP_MAX_PIXELS"):
        ingest(gen, t2i, data=png_bytes(40, 30))
    assert not GeneratedImage.objects.exists()


def test_image_with_mask_creates_human_annotation_with_par(gen, t2i, annotator_user):
    mask = np.zeros((30, 40), dtype=np.uint8)
    mask[0:10, 0:12] = 1  # 120 of 1200 pixels
    outcome = image_ingest(
        item=IngestItem(name="a.png", data=png_bytes(40, 30), mask_name="a_mask.png", mask_data=mask_bytes(mask, 1)),
        generator=gen, task=t2i, annotator=annotator_user,
    )
    label = MaskLabel.objects.get(annotation__image=outcome.image)
    assert label.artifact_pixels == 120 and label.par == pytest.approx(0.1)
    outcome.image.refresh_from_db()
    assert outcome.image.is_labelled and outcome.image.par == pytest.approx(0.1)
    assert outcome.image.par_source == "human"


@pytest.mark.parametrize(
    "mask, reason",
    [
        (mask_bytes(np.ones((10, 10))), "mask is 10x10 but its image is 40x30"),
        (png_bytes(40, 30, mode="L"), "mask is not binary"),
        (png_bytes(40, 30, mode="RGB"), "mask has colour"),
    ],
)
def test_bad_mask_rejects_the_whole_item(gen, t2i, annotator_user, mask, reason):
    with pytest.raises(ItemRejected) as err:
        image_ingest(item=IngestItem(name="a.png", data=png_bytes(40, 30), mask_name="m.png", mask_data=mask),
                     generator=gen, task=t2i, annotator=annotator_user)
    assert err.value.path == "m.png" and reason in err.value.error
    assert not GeneratedImage.objects.exists() and not Annotation.objects.exists()
    assert_storage_matches_tables()


def test_failure_after_blob_write_removes_the_file(gen, t2i, monkeypatch):
    """A crash between file write and row insert must not leave the file behind."""
    def boom(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(GeneratedImage.objects, "create", boom)
    with pytest.raises(RuntimeError):
        ingest(gen, t2i, data=png_bytes())
    assert not Blob.objects.exists()
    assert_storage_matches_tables()


def test_conditional_inputs_are_stored_with_roles(gen, t2i):
    edge = png_bytes(40, 30, mode="L", seed=3)
    outcome = ingest(gen, t2i, data=png_bytes(40, 30), conditional_inputs=[
        ConditionalFile("edge", "edge.png", edge), ConditionalFile("prompt_text", "p.txt", "a red car".encode()),
    ])
    roles = {c.role: c.blob.content_type for c in outcome.image.conditional_inputs.select_related("blob")}
    assert roles == {"edge": "image/png", "prompt_text": "text/plain"}
    assert_storage_matches_tables()


def test_unknown_conditional_role_is_rejected(gen, t2i):
    with pytest.raises(ItemRejected, match="unknown conditional input role 'depth'"):
        ingest(gen, t2i, data=png_bytes(), conditional_inputs=[ConditionalFile("depth", "d.png", png_bytes())])
    assert not Blob.objects.exists()


def test_unknown_generator_and_task_are_clear_errors(db):
    with pytest.raises(ApplicationError, match="unknown generator 'nope'"):
        generator_resolve(name="nope")
    with pytest.raises(ApplicationError, match="unknown synthesis task 'teleport'.*text_to_image"):
        task_resolve(slug="teleport")


def test_rollback_of_enclosing_savepoint_removes_new_files(gen, t2i):
    """atomic_with_blobs cleans up even when the failure comes after the service returned."""
    from backend.core.blobs import atomic_with_blobs

    with pytest.raises(ValueError):
        with atomic_with_blobs():
            ingest(gen, t2i, data=png_bytes(seed=5))
            raise ValueError("caller changed its mind")
    assert not GeneratedImage.objects.exists()
    assert_storage_matches_tables()
