"""In-process faults: the heartbeat thread outlives a dropped database connection, and an attempt that lost
its job's lease (reaped while it still ran, or claimed again) publishes nothing and leaves no files."""

import logging
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from backend.jobs.context import JobContext
from backend.jobs.lease import JobLeaseLost, job_lease
from backend.jobs.models import Job
from datasets.jobs import dataset_export_job
from datasets.models import Export
from datasets.services import dataset_create, dataset_version_build, dataset_version_start
from tests.backend.storage_checks import assert_storage_matches_tables
from tests.datasets.helpers import labelled_image
from tests.reliability.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def _running_job(**fields) -> Job:
    return Job.objects.create(kind="dataset_export", status="running", attempt_token=uuid.uuid4(),
                              started_at=timezone.now(), heartbeat_at=timezone.now() - timedelta(seconds=30),
                              **fields)


def test_the_heartbeat_thread_survives_its_database_connection_being_dropped(settings, caplog):
    settings.FLAWMAP_JOB_HEARTBEAT_SECONDS = 0.2
    settings.FLAWMAP_JOB_HEARTBEAT_TIMEOUT_SECONDS = 8
    job = _running_job()
    ctx = JobContext(job)
    with caplog.at_level(logging.WARNING, logger="backend.jobs.context"), ctx:
        wait_for(lambda: Job.objects.get(pk=job.pk).heartbeat_at > timezone.now() - timedelta(seconds=5),
                 timeout=10, what="a first heartbeat")
        # What a database restart or failover does to the heartbeat thread's connection.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database()"
                           " AND pid <> pg_backend_pid() AND backend_type = 'client backend'")
            assert cursor.rowcount >= 1
        wait_for(lambda: "heartbeat failed" in caplog.text, timeout=10, what="the heartbeat to notice")
        after_error = timezone.now()
        wait_for(lambda: Job.objects.get(pk=job.pk).heartbeat_at > after_error, timeout=10,
                 what="a heartbeat on a new connection")
        assert ctx._thread.is_alive()


def test_a_lease_is_held_only_by_the_running_attempt_with_its_token():
    job = _running_job()
    with job_lease(job_id=job.pk, token=job.attempt_token):
        pass
    for token, status in ((uuid.uuid4(), "running"), (job.attempt_token, "failed"), (None, "running")):
        Job.objects.filter(pk=job.pk).update(status=status)
        with pytest.raises(JobLeaseLost, match="lost its lease"), job_lease(job_id=job.pk, token=token):
            pytest.fail("the block of a lost lease ran")


def test_an_export_attempt_reaped_while_it_ran_publishes_nothing_and_leaves_no_files(annotator_user, settings,
                                                                                      tmp_path):
    exports = tmp_path / "exports"
    settings.FLAWMAP_EXPORT_DIR = str(exports)
    for seed in range(4):
        labelled_image(annotator_user, seed=seed)
    version = dataset_version_build(version=dataset_version_start(dataset=dataset_create(name="lease")))
    export = Export.objects.create(version=version, format="coco")
    out = exports / f"lease-v1-coco-{export.pk}.tar.gz"
    job = _running_job(params={"export_id": export.pk, "out": str(out)})
    ctx = JobContext(job)  # this attempt, claimed before ...
    Job.objects.filter(pk=job.pk).update(status="failed")  # ... the reaper gave up on it
    with pytest.raises(JobLeaseLost):
        dataset_export_job(ctx)
    export.refresh_from_db()
    assert export.status == "running" and export.path == "" and export.error == ""  # the retry's to finish
    assert not out.exists() and list(exports.iterdir()) == []  # no archive, no .partial folder, no .tmp
    assert_storage_matches_tables()  # the archive it had uploaded before asking for the lease went again

    Job.objects.filter(pk=job.pk).update(status="running")  # the attempt holding the lease publishes
    assert dataset_export_job(ctx)["status"] == "done"
    export.refresh_from_db()
    # Published to blob storage; the export folder was only scratch.
    assert export.archive_id and export.path == out.name and list(exports.iterdir()) == []
    assert_storage_matches_tables()
