"""Dataset builds and exports run as Jobs: a worker lost for good leaves neither a version "building" nor an
export "running" for ever, and an export whose worker died is finished by the retry."""

import pytest

from backend.jobs.models import Job
from backend.jobs.services import jobs_reap_stale
from datasets.models import DatasetVersion, Export
from datasets.services import dataset_create, dataset_version_snapshot, export_request
from tests.backend.jobs.helpers import worker_killed
from tests.datasets.helpers import labelled_image

pytestmark = pytest.mark.django_db


def _ready_version(name: str, annotator_user, django_capture_on_commit_callbacks) -> DatasetVersion:
    labelled_image(annotator_user, seed=1)
    with django_capture_on_commit_callbacks(execute=True):
        version = dataset_version_snapshot(dataset=dataset_create(name=name))
    version.refresh_from_db()
    assert version.status == "ready"
    return version


def test_a_build_lost_for_good_removes_the_reserved_version(annotator_user):
    labelled_image(annotator_user, seed=1)
    version = dataset_version_snapshot(dataset=dataset_create(name="lost"))  # queued: no commit in this test
    job = Job.objects.get(kind="dataset_version_build")
    assert job.params["version_id"] == version.pk and version.status == "building"
    worker_killed(job.pk, last_attempt=True)
    assert jobs_reap_stale(timeout_seconds=60) == [job.pk]
    assert not DatasetVersion.objects.filter(pk=version.pk).exists()
    assert not Job.objects.filter(retry_of=job).exists()


def test_an_export_lost_for_good_reads_failed_with_the_reason(annotator_user, admin_client, settings, tmp_path,
                                                              django_capture_on_commit_callbacks):
    settings.FLAWMAP_EXPORT_DIR = str(tmp_path / "exports")
    version = _ready_version("exp", annotator_user, django_capture_on_commit_callbacks)
    export = export_request(version=version, fmt="pal4vst")  # queued: no commit
    worker_killed(export.job_id, last_attempt=True)
    assert jobs_reap_stale(timeout_seconds=60) == [export.job_id]
    body = admin_client.get(f"/api/exports/{export.pk}/").json()
    assert body["status"] == "failed" and "no heartbeat" in body["error"] and body["finished_at"]
    assert body["download_url"] is None and not list((tmp_path / "exports").glob("*"))


def test_an_export_whose_worker_died_is_finished_by_the_retry(annotator_user, admin_client, settings, tmp_path,
                                                              django_capture_on_commit_callbacks):
    settings.FLAWMAP_EXPORT_DIR = str(tmp_path / "exports")
    version = _ready_version("exp2", annotator_user, django_capture_on_commit_callbacks)
    export = export_request(version=version, fmt="coco")
    worker_killed(export.job_id)
    with django_capture_on_commit_callbacks(execute=True):  # the retry runs when the reaper commits
        jobs_reap_stale(timeout_seconds=60)
    export.refresh_from_db()
    retry = Job.objects.get(retry_of=export.job)
    assert export.status == Export.Status.DONE and retry.status == "succeeded"
    body = admin_client.get(f"/api/exports/{export.pk}/").json()
    # The export names the attempt that did the work, not the lost one it still keeps.
    assert body["download_url"] and body["job"] == retry.pk and body["job_url"].endswith(f"/api/jobs/{retry.pk}/")


def test_export_request_refuses_an_unknown_format_and_stores_nothing(annotator_user,
                                                                     django_capture_on_commit_callbacks):
    from backend.core.exceptions import ApplicationError

    version = _ready_version("bad", annotator_user, django_capture_on_commit_callbacks)
    with pytest.raises(ApplicationError, match="unknown export format 'nope'"):
        export_request(version=version, fmt="nope")
    assert not Export.objects.exists() and not Job.objects.filter(kind="dataset_export").exists()
