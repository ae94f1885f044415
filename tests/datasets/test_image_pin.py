"""Dataset items point at their version, image and annotation without a database constraint
(backend/images/locks.py): a snapshot pins images for its transaction, deleting an image waits for it (a bounded
time) and is then refused, and the clean-up of abandoned builds leaves a live build alone."""

import threading
from dataclasses import dataclass

import pytest
from django.db import connection
from django.db.models import ProtectedError

from backend.core.exceptions import ApplicationError
from backend.images.locks import images_delete_lock
from backend.images.models import GeneratedImage
from backend.images.services import image_delete
from datasets.models import DatasetItem, DatasetVersion
from datasets.services import (
    dataset_create,
    dataset_version_build,
    dataset_version_start,
    dataset_versions_building_delete,
)
from tests.datasets.helpers import labelled_image


def in_thread(target, outcome: dict, key: str) -> threading.Thread:
    def run():
        try:
            outcome[key] = target()
        except Exception as exc:  # noqa: BLE001 - the test reads what happened
            outcome[key] = exc
        finally:
            connection.close()  # this thread's own connection

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@dataclass
class PausedSnapshot:
    version: DatasetVersion
    image: GeneratedImage
    release: threading.Event
    thread: threading.Thread
    outcome: dict

    def finish(self) -> None:
        self.release.set()
        self.thread.join(30)
        assert isinstance(self.outcome["snapshot"], DatasetVersion), self.outcome["snapshot"]


@pytest.fixture
def paused_snapshot(annotator_user, monkeypatch):
    """A snapshot running in a thread, stopped after choosing its one image and before writing its item."""
    if connection.vendor != "postgresql":
        pytest.skip("row and advisory locks are PostgreSQL's")
    image = labelled_image(annotator_user, seed=1)
    version = dataset_version_start(dataset=dataset_create(name="paused"))
    selected, release = threading.Event(), threading.Event()
    import datasets.services

    real_write = datasets.services._items_write

    def write_after_a_pause(rows):
        selected.set()
        assert release.wait(30)
        real_write(rows)

    monkeypatch.setattr(datasets.services, "_items_write", write_after_a_pause)
    outcome: dict = {}
    thread = in_thread(lambda: dataset_version_build(version=version), outcome, "snapshot")
    assert selected.wait(30)
    paused = PausedSnapshot(version, image, release, thread, outcome)
    yield paused
    paused.finish()


@pytest.mark.django_db(transaction=True)
def test_an_image_delete_waits_for_a_running_snapshot_and_is_then_refused(paused_snapshot):
    image = paused_snapshot.image
    outcome: dict = {}
    delete = in_thread(lambda: image_delete(image=GeneratedImage.objects.get(pk=image.pk)), outcome, "delete")
    delete.join(1.5)
    assert delete.is_alive(), "the delete must wait for the snapshot's transaction"
    paused_snapshot.finish()
    delete.join(30)
    assert isinstance(outcome["delete"], ProtectedError), outcome["delete"]
    assert GeneratedImage.objects.filter(pk=image.pk).exists()
    assert DatasetItem.objects.filter(version=paused_snapshot.version, image=image).exists()


@pytest.mark.django_db(transaction=True)
def test_a_snapshot_started_after_a_delete_does_not_select_the_deleted_image(annotator_user, monkeypatch):
    kept, gone = labelled_image(annotator_user, seed=1), labelled_image(annotator_user, seed=2)
    dataset = dataset_create(name="after-delete")
    image_delete(image=gone)
    version = dataset_version_build(version=dataset_version_start(dataset=dataset))
    assert list(DatasetItem.objects.filter(version=version).values_list("image_id", flat=True)) == [kept.pk]


@pytest.mark.django_db(transaction=True)
def test_a_delete_waits_a_bounded_time_then_says_a_snapshot_is_running(paused_snapshot):
    from django.db import transaction

    with pytest.raises(ApplicationError, match="snapshot is being written"), transaction.atomic():
        images_delete_lock(wait_seconds=0.3)


@pytest.mark.django_db(transaction=True)
def test_the_clean_up_of_abandoned_builds_skips_a_live_one(paused_snapshot):
    version = paused_snapshot.version
    assert dataset_versions_building_delete(versions=DatasetVersion.objects.filter(pk=version.pk)) == 0
    assert DatasetVersion.objects.filter(pk=version.pk).exists()
