"""A real S3 API for tests: moto's standalone server on a loopback port, shared by the session, a fresh bucket
per module, and the "blobs" storage pointed at it through `s3_storage_config` (the function the settings use for
FLAWMAP_STORAGE=s3), so tests exercise the production configuration rather than a copy.

Fixtures (made available to every test by tests/conftest.py): `s3_endpoint`, `s3_client`, `s3_bucket`, and
`s3_blobs`, which points "blobs" and "default" at an emptied bucket for one test.
"""

import logging
import threading
import uuid

import boto3
import pytest
from botocore.config import Config
from django.core.files.storage import storages

from backend.config.settings.storage import s3_storage_config

REGION = "us-east-1"
ACCESS_KEY = "flawmap-test-access"
SECRET_KEY = "flawmap-test-secret"
START_TIMEOUT_S = 15
STOP_TIMEOUT_S = 15
# Short timeouts and few retries: a wedged server fails the test instead of hanging it.
CLIENT_CONFIG = Config(connect_timeout=5, read_timeout=15, retries={"max_attempts": 2, "mode": "standard"})


def run_with_timeout(fn, timeout: float, what: str) -> None:
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


@pytest.fixture(scope="session")
def s3_endpoint():
    """moto's S3 server on a free loopback port, started by the first test that needs it."""
    from moto.server import ThreadedMotoServer

    werkzeug_log = logging.getLogger("werkzeug")
    old_level = werkzeug_log.level
    werkzeug_log.setLevel(logging.ERROR)  # no access log line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    try:
        # ThreadedMotoServer.start() waits on an event with no timeout; bound it.
        run_with_timeout(server.start, START_TIMEOUT_S, "start")
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        try:
            if server._server is not None:
                run_with_timeout(server.stop, STOP_TIMEOUT_S, "stop")
        finally:
            werkzeug_log.setLevel(old_level)


@pytest.fixture(scope="session")
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


def empty_bucket(s3_client, bucket: str) -> None:
    for key in bucket_keys(s3_client, bucket):
        s3_client.delete_object(Bucket=bucket, Key=key)


def s3_object(s3_client, bucket: str, key: str) -> bytes:
    return s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()


def s3_storage_entry(*, endpoint: str, bucket: str) -> dict:
    """The "blobs" storage entry production builds for FLAWMAP_STORAGE=s3, with the tests' short timeouts."""
    entry = s3_storage_config(bucket=bucket, endpoint_url=endpoint, region=REGION, access_key=ACCESS_KEY,
                              secret_key=SECRET_KEY)
    # A client_config replaces the storage's own signature_version: carry production's over.
    config = CLIENT_CONFIG.merge(Config(signature_version=entry["OPTIONS"]["signature_version"]))
    return {**entry, "OPTIONS": {**entry["OPTIONS"], "client_config": config}}


@pytest.fixture
def s3_blobs(blob_dir, settings, s3_endpoint, s3_client, s3_bucket):
    """Point "blobs" and "default" at the bucket (after conftest's local `blob_dir`), starting empty."""
    empty_bucket(s3_client, s3_bucket)
    entry = s3_storage_entry(endpoint=s3_endpoint, bucket=s3_bucket)
    settings.STORAGES = {**settings.STORAGES, "default": entry, "blobs": entry}
    assert type(storages["blobs"]).__name__ == "S3Storage"
    yield s3_bucket
    empty_bucket(s3_client, s3_bucket)
