"""blobs_gc removes only orphan files older than the grace period, and never one a committed row references: not
while ingest runs beside it, not even with no grace at all, and not an old orphan file that a writer is adopting
(the same bytes ingested again) in a transaction that has not committed yet."""

import io
import os
import threading
import time

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from backend.core.blobs import atomic_with_blobs, blob_key_for, blob_storage, blob_store, sha256_hex, storage_keys
from backend.core.models import Blob
from backend.images.models import GeneratedImage, SynthesisTask
from backend.images.services import IngestItem, image_ingest
from tests.conftest import png_bytes
from tests.factories import GeneratorFactory

# Transactional: the ingest thread has its own connection and must see committed rows; serialized_rollback keeps
# the seeded rows (tasks, groups) for later tests.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

DAY = 86400


def _gc(*args) -> str:
    out = io.StringIO()
    call_command("blobs_gc", *args, stdout=out)
    return out.getvalue()


def _plant(blob_dir, data: bytes, *, age_seconds: float) -> str:
    """A file where blob_store would put these bytes, with no row, last modified `age_seconds` ago."""
    key = blob_key_for(sha256=sha256_hex(data), content_type="image/png")
    path = blob_dir / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    then = time.time() - age_seconds
    os.utime(path, (then, then))
    return key


def _assert_every_row_has_its_file():
    storage = blob_storage()
    missing = [b.key for b in Blob.objects.all() if not storage.exists(b.key)]
    assert missing == []
    for image in GeneratedImage.objects.select_related("blob"):
        assert storage.exists(image.blob.key)


def _ingest_loop(n: int, seed0: int, errors: list) -> None:
    try:
        generator = GeneratorFactory()
        task = SynthesisTask.objects.get(slug="text_to_image")
        for i in range(n):
            image_ingest(item=IngestItem(name=f"img-{seed0 + i}.png", data=png_bytes(24, 24, seed=seed0 + i)),
                         generator=generator, task=task)
    except BaseException as exc:  # noqa: BLE001 - reported by the test thread
        errors.append(exc)
    finally:
        connection.close()


def _gc_while(thread: threading.Thread, *args) -> int:
    runs = 0
    while thread.is_alive():
        _gc(*args)
        runs += 1
    return runs


def test_gc_beside_a_running_ingest_leaves_no_row_without_its_file(blob_dir, settings):
    settings.FLAWMAP_BLOBS_GC_GRACE_SECONDS = DAY
    old = _plant(blob_dir, png_bytes(8, 8, seed=9001), age_seconds=2 * DAY)
    fresh = _plant(blob_dir, png_bytes(8, 8, seed=9002), age_seconds=60)

    runs = {}
    for phase, (seed0, gc_args) in {"default grace": (0, ()), "grace 1 s": (1000, ("--grace-seconds", "1")),
                                    "no grace": (2000, ("--grace-seconds", "0"))}.items():
        errors: list = []
        thread = threading.Thread(target=_ingest_loop, args=(40, seed0, errors))
        thread.start()
        runs[phase] = _gc_while(thread, *gc_args)
        thread.join()
        assert errors == []
        _assert_every_row_has_its_file()
        if phase == "default grace":
            keys = storage_keys()
            assert old not in keys and fresh in keys
    assert GeneratedImage.objects.count() == 120
    assert all(n >= 1 for n in runs.values()), runs
    # The grace-0 runs removed the fresh orphan as well: storage and rows now match exactly.
    assert storage_keys() == set(Blob.objects.values_list("key", flat=True))


def test_an_old_orphan_that_an_open_transaction_adopts_is_kept(blob_dir):
    """The grace period cannot cover this one: the file is old, the row that will reference it is not committed
    yet. The writer's lock keeps gc off the file until it commits."""
    data = png_bytes(16, 16, seed=77)
    key = _plant(blob_dir, data, age_seconds=2 * DAY)
    stored, release, errors = threading.Event(), threading.Event(), []

    def writer():
        try:
            with atomic_with_blobs():
                blob_store(data=data, content_type="image/png")
                stored.set()
                release.wait(30)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=writer)
    thread.start()
    assert stored.wait(30)
    out = _gc("--grace-seconds", "0")
    assert "0 orphan file(s) removed" in out and "1 in use kept" in out
    release.set()
    thread.join()
    assert errors == []
    assert Blob.objects.filter(key=key).exists() and blob_storage().exists(key)
    assert "0 orphan file(s) removed" in _gc("--grace-seconds", "0")


def test_dry_run_lists_without_removing_and_a_negative_grace_is_refused(blob_dir):
    old = _plant(blob_dir, png_bytes(8, 8, seed=5), age_seconds=2 * DAY)
    out = _gc("--dry-run")
    assert f"would remove {old}" in out and old in storage_keys()
    assert f"removed {old}" in _gc() and old not in storage_keys()
    with pytest.raises(CommandError, match="--grace-seconds must be 0 or more"):
        _gc("--grace-seconds", "-1")
