"""Blob storage against a real S3 API: moto's standalone server on loopback, django-storages' S3 backend.

The storage entry comes from `s3_storage_config`, the function the settings module uses when
FLAWMAP_STORAGE=s3, so these tests exercise the production configuration rather than a copy.
"""

import hashlib
import logging
import threading
import uuid

import boto3
import pytest
from botocore.config import Config
from django.core.files.storage import storages
from django.core.files.uploadedfile import SimpleUploadedFile

from backend.config.settings.storage import s3_storage_config
from backend.core.blobs import blob_read, storage_keys
from backend.core.models import Blob
from backend.images.models import GeneratedImage, SynthesisTask
from backend.images.services import IngestItem, image_ingest
from tests.backend.storage_checks import assert_storage_matches_tables
from tests.conftest import png_bytes
from tests.factories import GeneratorFactory, make_image

pytestmark = pytest.mark.django_db

REGION = "us-east-1"
ACCESS_KEY = "flawmap-test-access"
SECRET_KEY = "flawmap-test-secret"
START_TIMEOUT_S = 15
STOP_TIMEOUT_S = 15
# Short timeouts and few retries: a wedged server fails the test instead of hanging it.
CLIENT_CONFIG = Config(connect_timeout=5, read_timeout=15, retries={"max_attempts": 2, "mode": "standard"})


def _run_with_timeout(fn, timeout: float, what: str) -> None:
    """Run `fn` in a daemon thread; fail (instead of hanging the session) if it does not finish in time."""
    errors: list[BaseException] = []

    def target():
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised below in the calling thread
            errors.append(exc)

    thread = threading.Thread(target=target, name=f"moto-{what}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError(f"moto server {what} did not finish within {timeout}s")
    if errors:
        raise errors[0]


@pytest.fixture(scope="module")
def s3_endpoint():
    """moto's S3 server on a free loopback port, for this module only."""
    from moto.server import ThreadedMotoServer

    werkzeug_log = logging.getLogger("werkzeug")
    old_level = werkzeug_log.level
    werkzeug_log.setLevel(logging.ERROR)  # no access log line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    try:
        # ThreadedMotoServer.start() waits on an event with no timeout; bound it.
        _run_with_timeout(server.start, START_TIMEOUT_S, "start")
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        try:
            if server._server is not None:
                _run_with_timeout(server.stop, STOP_TIMEOUT_S, "stop")
        finally:
            werkzeug_log.setLevel(old_level)


@pytest.fixture(scope="module")
def s3_client(s3_endpoint):
    return boto3.client("s3", endpoint_url=s3_endpoint, region_name=REGION, aws_access_key_id=ACCESS_KEY,
                        aws_secret_access_key=SECRET_KEY, config=CLIENT_CONFIG)


@pytest.fixture(scope="module")
def s3_bucket(s3_client):
    name = f"flawmap-test-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name)
    return name


def bucket_keys(s3_client, bucket: str) -> set[str]:
    keys: set[str] = set()
    for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys.update(obj["Key"] for obj in page.get("Contents", []))
    return keys


def _empty_bucket(s3_client, bucket: str) -> None:
    for key in bucket_keys(s3_client, bucket):
        s3_client.delete_object(Bucket=bucket, Key=key)


@pytest.fixture(autouse=True)
def s3_storage(blob_dir, settings, s3_endpoint, s3_client, s3_bucket):
    """Point "blobs" and "default" at the bucket (after conftest's local `blob_dir`), starting empty."""
    _empty_bucket(s3_client, s3_bucket)
    entry = s3_storage_config(bucket=s3_bucket, endpoint_url=s3_endpoint, region=REGION,
                              access_key=ACCESS_KEY, secret_key=SECRET_KEY)
    entry = {**entry, "OPTIONS": {**entry["OPTIONS"], "client_config": CLIENT_CONFIG}}
    settings.STORAGES = {**settings.STORAGES, "default": entry, "blobs": entry}
    assert type(storages["blobs"]).__name__ == "S3Storage"
    yield s3_bucket
    _empty_bucket(s3_client, s3_bucket)


def s3_object(s3_client, bucket: str, key: str) -> bytes:
    return s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()


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
