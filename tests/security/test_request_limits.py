"""Request bodies are limited while they are read: past its route's limit a body is a 413 with a message naming
the limit, and nothing of the request is stored (the real-server 1 GiB case: test_upload_stream.py)."""

import io

import pytest
from django.core.files.uploadhandler import MemoryFileUploadHandler
from django.http.multipartparser import MultiPartParser
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

from backend.core.exceptions import RequestTooLarge
from backend.core.request_limits import BodyLimit, BodyLimitUploadHandler
from backend.images.models import GeneratedImage
from datasets.models import Dataset
from tests.conftest import png_bytes, upload
from tests.factories import GeneratorFactory

pytestmark = pytest.mark.django_db

MIDDLEWARE = "backend.core.request_limits.RequestBodyLimitMiddleware"


@pytest.fixture(autouse=True)
def generator(db):
    return GeneratorFactory(name="sd15", version="")


def ingest(client, data: bytes, **fields):
    return client.post("/api/images/", {"files": [upload("a.png", data)], "generator": "sd15",
                                        "task": "text_to_image", **fields}, format="multipart")


def test_a_json_body_over_the_json_limit_is_a_413_and_nothing_is_stored(admin_client, settings):
    settings.FLAWMAP_MAX_JSON_BYTES = 1000
    response = admin_client.post("/api/datasets/", {"name": "big", "description": "x" * 2000}, format="json")
    assert response.status_code == 413
    assert "FLAWMAP_MAX_JSON_BYTES" in response.json()["detail"]
    assert not Dataset.objects.exists()
    assert admin_client.post("/api/datasets/", {"name": "small"}, format="json").status_code == 201


def test_an_upload_over_its_limit_is_a_413_before_it_is_read(admin_client, settings):
    settings.FLAWMAP_MAX_UPLOAD_BYTES, settings.FLAWMAP_MAX_JSON_BYTES = 5000, 1000  # files + form fields: 6000
    response = ingest(admin_client, png_bytes(96, 96))  # ~28 kB of noise
    assert response.status_code == 413
    detail = response.json()["detail"]
    assert "FLAWMAP_MAX_UPLOAD_BYTES" in detail and "bytes of files" in detail
    assert not GeneratedImage.objects.exists()
    assert ingest(admin_client, png_bytes(16, 16)).status_code == 201  # under the limit: stored


def test_the_upload_handler_stops_a_multipart_body_the_header_did_not_stop(admin_client, settings):
    """Without the Content-Length check (or with a header that understates), the handler still counts."""
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != MIDDLEWARE]
    settings.FLAWMAP_MAX_JSON_BYTES = 4096  # the limit of a view without a request_body_limit of its own
    response = ingest(admin_client, png_bytes(96, 96))
    assert response.status_code == 413, response.content
    assert "upload was stopped" in response.json()["detail"]
    assert not GeneratedImage.objects.exists()


def test_the_upload_handler_counts_all_files_of_one_body():
    class Request:
        flawmap_body_limit = BodyLimit(setting="REWARD_MAX_BYTES", budget=10_000)

    body = encode_multipart(BOUNDARY, {"images": [upload(f"{i}.bin", b"x" * 4000) for i in range(3)]})
    handlers = [BodyLimitUploadHandler(Request()), MemoryFileUploadHandler()]
    meta = {"CONTENT_TYPE": MULTIPART_CONTENT, "CONTENT_LENGTH": str(len(body))}
    with pytest.raises(RequestTooLarge, match="over 10000 bytes \\(REWARD_MAX_BYTES\\)"):
        MultiPartParser(meta, io.BytesIO(body), handlers).parse()
    two = encode_multipart(BOUNDARY, {"images": [upload(f"{i}.bin", b"x" * 4000) for i in range(2)]})
    meta["CONTENT_LENGTH"] = str(len(two))
    _, files = MultiPartParser(meta, io.BytesIO(two), [BodyLimitUploadHandler(Request()),
                                                      MemoryFileUploadHandler()]).parse()
    assert len(files.getlist("images")) == 2


def test_djangos_own_field_limit_is_a_413_too(admin_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = ingest(admin_client, png_bytes(16, 16), prompt="p" * 5000)
    assert response.status_code == 413 and "FLAWMAP_MAX_JSON_BYTES" in response.json()["detail"]
    assert not GeneratedImage.objects.exists()


def test_a_body_of_unknown_length_is_refused(admin_client):
    response = admin_client.generic("POST", "/api/datasets/", b"", content_type="application/json",
                                    CONTENT_LENGTH="", HTTP_TRANSFER_ENCODING="chunked")
    assert response.status_code == 411 and "Content-Length" in response.json()["detail"]


def test_reward_bytes_and_decoded_pixels_per_request_are_limited(viewer_client, settings):
    settings.REWARD_MAX_BYTES = 1000
    response = viewer_client.post("/api/reward", {"images": [upload("big.png", png_bytes(64, 64))]},
                                  format="multipart")
    assert response.status_code == 413 and "REWARD_MAX_BYTES" in response.json()["detail"]
    settings.REWARD_MAX_BYTES = 10**7
    settings.REWARD_MAX_TOTAL_PIXELS = 2 * 64 * 64 - 1
    # Each image alone is fine (REWARD_MAX_PIXELS); together they are over the per-request pixel budget.
    images = [upload(f"{i}.png", png_bytes(64, 64, seed=i)) for i in range(2)]
    response = viewer_client.post("/api/reward", {"images": images}, format="multipart")
    assert response.status_code == 413
    assert "REWARD_MAX_TOTAL_PIXELS" in response.json()["detail"] and "8192 pixels in 2 images" in \
        response.json()["detail"]


def test_the_webhook_takes_bodies_up_to_its_own_limit(client, settings):
    settings.FLAWMAP_MAX_JSON_BYTES = 1000
    settings.FLAWMAP_WEBHOOK_MAX_BYTES = 100_000
    secret = settings.LABEL_STUDIO_WEBHOOK_SECRET
    header = {f"HTTP_{settings.LABEL_STUDIO_WEBHOOK_HEADER.upper().replace('-', '_')}": secret}
    body = b"not json " * 1000  # 9 kB: over the JSON limit, under the webhook's; read, then judged
    response = client.post("/api/labelstudio/webhook/", body, content_type="application/json", **header)
    assert response.status_code == 400 and "not JSON" in response.json()["detail"]
    response = client.post("/api/labelstudio/webhook/", b"x" * 200_000, content_type="application/json", **header)
    assert response.status_code == 413 and "FLAWMAP_WEBHOOK_MAX_BYTES" in response.json()["detail"]
