"""Blob storage against a real S3 API: moto's standalone server on loopback, django-storages' S3 backend.

The storage entry comes from `s3_storage_config`, the function the settings module uses when
FLAWMAP_STORAGE=s3, so these tests exercise the production configuration rather than a copy (tests/s3_server.py).
"""

import hashlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from backend.core.blobs import blob_read, storage_keys
from backend.core.models import Blob
from backend.images.models import GeneratedImage, SynthesisTask
from backend.images.services import IngestItem, image_ingest
from tests.backend.storage_checks import assert_storage_matches_tables
from tests.conftest import png_bytes
from tests.factories import GeneratorFactory, make_image
from tests.s3_server import bucket_keys, s3_object

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def s3_storage(s3_blobs):
    """Every test here runs on the bucket."""
    return s3_blobs


def test_ingested_image_is_an_object_in_the_bucket(s3_client, s3_storage):
    data = png_bytes(40, 30, seed=1)
    image = make_image(data=data)
    blob = Blob.objects.get(pk=image.blob_id)
    assert blob.key.startswith("blobs/") and blob.key.endswith(".png")
    assert bucket_keys(s3_client, s3_storage) == {blob.key}
    stored = s3_object(s3_client, s3_storage, blob.key)
    assert stored == data
    assert hashlib.sha256(stored).hexdigest() == blob.pk == image.sha256
    assert blob_read(blob) == data
    assert_storage_matches_tables()


def test_upload_and_download_through_the_api(admin_client, s3_client, s3_storage):
    generator = GeneratorFactory(name="sdxl-s3")
    data = png_bytes(32, 24, seed=2)
    upload = SimpleUploadedFile("up.png", data, content_type="image/png")
    response = admin_client.post(
        "/api/images/", {"files": [upload], "generator": str(generator.pk), "task": "text_to_image"},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    (image_id,) = response.json()["images"]
    image = GeneratedImage.objects.select_related("blob").get(pk=image_id)
    assert s3_object(s3_client, s3_storage, image.blob.key) == data

    response = admin_client.get(f"/api/images/{image_id}/file")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content) == data
    assert_storage_matches_tables()


def test_failed_ingest_leaves_no_object_and_listing_matches_rows(s3_client, s3_storage, monkeypatch):
    kept = make_image(data=png_bytes(20, 20, seed=3))
    generator = GeneratorFactory()
    task = SynthesisTask.objects.get(slug="text_to_image")
    written: list[str] = []
    real_create = GeneratedImage.objects.create

    def create_after_blob_written(**kwargs):
        written.append(kwargs["blob"].key)
        assert kwargs["blob"].key in bucket_keys(s3_client, s3_storage)  # the file really went in first
        raise RuntimeError("database went away")

    monkeypatch.setattr(GeneratedImage.objects, "create", create_after_blob_written)
    with pytest.raises(RuntimeError, match="database went away"):
        image_ingest(item=IngestItem(name="doomed.png", data=png_bytes(20, 20, seed=4)), generator=generator,
                     task=task)
    monkeypatch.setattr(GeneratedImage.objects, "create", real_create)

    assert len(written) == 1 and written[0] != kept.blob.key
    assert bucket_keys(s3_client, s3_storage) == {kept.blob.key}
    assert storage_keys() == set(Blob.objects.values_list("key", flat=True)) == {kept.blob.key}
    assert GeneratedImage.objects.count() == 1
    assert_storage_matches_tables()


def test_reingesting_same_bytes_adds_no_object_or_row(s3_client, s3_storage):
    data = png_bytes(24, 16, seed=5)
    first = make_image(data=data)
    before = bucket_keys(s3_client, s3_storage)
    modified = s3_client.head_object(Bucket=s3_storage, Key=first.blob.key)["LastModified"]

    task = SynthesisTask.objects.get(slug="text_to_image")
    second = image_ingest(item=IngestItem(name="again.png", data=data), generator=GeneratorFactory(), task=task)

    assert not second.created and second.image.pk == first.pk
    assert bucket_keys(s3_client, s3_storage) == before == {first.blob.key}
    assert s3_client.head_object(Bucket=s3_storage, Key=first.blob.key)["LastModified"] == modified
    assert GeneratedImage.objects.count() == 1 and Blob.objects.count() == 1
    assert_storage_matches_tables()
