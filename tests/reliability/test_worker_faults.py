"""Real workers meet real faults mid-job: `kill -9` during an export and during a training, a worker frozen
long enough to be reaped that then wakes up, and the database paused for 30 s. Each time exactly one Export /
ModelVersion comes out and no scratch folder (`.partial`, training work dir) is left behind."""

import os
import signal
import tarfile
import time

import numpy as np
import pytest
from django.db import connection

from backend.annotations.masks import mask_array_to_canonical
from backend.annotations.services import annotation_create
from backend.core.blobs import blob_open
from backend.jobs.models import Job
from backend.jobs.services import job_create, jobs_reap_stale
from backend.mlmodels.models import ModelVersion
from datasets.models import Export
from datasets.services import dataset_create, dataset_version_build, dataset_version_start, export_request
from tests.celery_worker import ALL_QUEUES, kill_hard, start_worker, stop_worker, wait_until_ready
from tests.conftest import png_bytes
from tests.datasets.helpers import labelled_image
from tests.factories import make_image
from tests.reliability.conftest import fault_worker_env, wait_for

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def _export_version(user, *, images: int = 150, size: int = 256):
    """Big enough that an export spends a few seconds writing its `.partial` folder."""
    for seed in range(images):
        labelled_image(user, seed=seed, size=(size, size), rows=size // 2)
    return dataset_version_build(version=dataset_version_start(dataset=dataset_create(name="faulty")))


def _mid_export(exports) -> bool:
    return any(exports.glob(".*.partial-*"))


def _finished(job_id: int) -> bool:
    return Job.objects.get(pk=job_id).status in ("succeeded", "failed", "cancelled")


def _run_retry(env, retry_id: int, *, timeout: float) -> str:
    # not pinged: a solo worker busy with the retry can't answer
    rescuer = start_worker(env, queues=ALL_QUEUES, name="rescuer")
    deadline = time.monotonic() + timeout
    while not _finished(retry_id) and rescuer.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    output = kill_hard(rescuer)
    job = Job.objects.get(pk=retry_id)
    assert job.status == "succeeded", (job.status, job.message, job.log_tail, job.traceback, output[-3000:])
    return output


def _one_clean_export(export: Export, exports) -> None:
    export.refresh_from_db()
    assert Export.objects.count() == 1 and export.status == "done", export.error
    assert list(exports.iterdir()) == []  # no .partial, no .tmp, and no local copy: the archive is a blob
    with blob_open(export.archive) as fh, tarfile.open(fileobj=fh) as tar:
        assert any(name.endswith("manifest.json") for name in tar.getnames())


def test_kill_9_during_an_export_leaves_one_export_and_no_partial_folder(on_private_broker, fault_dirs,
                                                                         annotator_user):
    version = _export_version(annotator_user)
    env = fault_worker_env(on_private_broker, fault_dirs)
    doomed = start_worker(env, queues=ALL_QUEUES, name="doomed")
    wait_until_ready(doomed, name="doomed")
    export = export_request(version=version, fmt="coco")
    try:
        wait_for(lambda: _mid_export(fault_dirs["exports"]), timeout=60, every=0.02, what="the export to start")
    finally:
        kill_hard(doomed)
    assert _mid_export(fault_dirs["exports"])  # what the killed worker left
    time.sleep(2.5)
    assert jobs_reap_stale(timeout_seconds=2) == [export.job_id]  # as celery beat would, every few seconds
    retry = Job.objects.get(retry_of=export.job_id)
    output = _run_retry(env, retry.pk, timeout=120)
    retry.refresh_from_db()
    assert retry.status == "succeeded", (retry.traceback, output[-3000:])
    _one_clean_export(export, fault_dirs["exports"])


def test_kill_9_during_a_training_leaves_one_model_version_and_no_work_folder(on_private_broker, fault_dirs,
                                                                              annotator_user):
    left_half = np.zeros((32, 48), bool)
    left_half[:, :24] = True
    for i in range(20):
        annotation_create(image=make_image(data=png_bytes(48, 32, seed=800 + i)), user=annotator_user,
                          mask=mask_array_to_canonical(left_half))
    version = dataset_version_build(version=dataset_version_start(dataset=dataset_create(name="train")))
    env = fault_worker_env(on_private_broker, fault_dirs)
    doomed = start_worker(env, queues=ALL_QUEUES, name="doomed")
    wait_until_ready(doomed, name="doomed")
    job, _ = job_create(kind="train_segmenter", params={"dataset_version_id": version.pk, "max_iters": 2})
    try:
        wait_for(lambda: any(fault_dirs["work"].glob(f"flawmap-segmenter-job{job.pk}-*")), timeout=120,
                 what="the training to start")
        time.sleep(1.0)  # exporting its data / building the model
    finally:
        kill_hard(doomed)
    assert Job.objects.get(pk=job.pk).status == "running" and any(fault_dirs["work"].iterdir())
    time.sleep(2.5)
    assert jobs_reap_stale(timeout_seconds=2) == [job.pk]
    retry = Job.objects.get(retry_of=job)
    output = _run_retry(env, retry.pk, timeout=300)
    retry.refresh_from_db()
    assert retry.status == "succeeded", (retry.traceback, output[-3000:])
    assert ModelVersion.objects.count() == 1 and retry.result["model_version"] == ModelVersion.objects.get().pk
    assert list(fault_dirs["work"].iterdir()) == []  # the killed attempt's work folder went with the retry


def test_a_worker_reaped_while_frozen_publishes_nothing_when_it_wakes_up(on_private_broker, fault_dirs,
                                                                         annotator_user):
    version = _export_version(annotator_user)
    env = fault_worker_env(on_private_broker, fault_dirs)
    frozen = start_worker(env, queues=ALL_QUEUES, name="frozen")
    wait_until_ready(frozen, name="frozen")
    export = export_request(version=version, fmt="coco")
    try:
        wait_for(lambda: _mid_export(fault_dirs["exports"]), timeout=60, every=0.02, what="the export to start")
        os.killpg(frozen.pid, signal.SIGSTOP)  # alive but silent: a long GC pause, a suspended VM
        time.sleep(2.5)
        assert jobs_reap_stale(timeout_seconds=2) == [export.job_id]
        retry = Job.objects.get(retry_of=export.job_id)
        output = _run_retry(env, retry.pk, timeout=120)
        retry.refresh_from_db()
        assert retry.status == "succeeded", (retry.traceback, output[-3000:])
        os.killpg(frozen.pid, signal.SIGCONT)  # the first attempt wakes up and finishes its export
        stale_output = stop_worker(frozen, timeout=120)  # warm shutdown: the current task runs to its end first
    finally:
        kill_hard(frozen)
    assert Job.objects.get(pk=export.job_id).status == "failed"  # still the reaper's verdict
    _one_clean_export(export, fault_dirs["exports"])
    print(f"\nthe woken worker said: {stale_output[-600:]}")


def _worker_backends() -> list[int]:
    """Every server process of the worker's connections (the job's and its heartbeat thread's), not ours."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                       "AND pid <> pg_backend_pid() AND backend_type = 'client backend'")
        return [row[0] for row in cursor.fetchall()]


def _pause(pids: list[int], sig: int) -> None:
    for pid in pids:
        os.kill(pid, sig)


def test_a_30_s_database_pause_during_a_job_does_not_get_it_reaped(on_private_broker, fault_dirs, annotator_user,
                                                                   settings):
    settings.FLAWMAP_JOB_HEARTBEAT_TIMEOUT_SECONDS = 60  # the reaper's timeout must exceed the pause
    version = _export_version(annotator_user)
    # Beats every 0.2 s: the heartbeat thread must hold its own connection before a fast export ends.
    env = fault_worker_env(on_private_broker, fault_dirs, FLAWMAP_JOB_HEARTBEAT_SECONDS="0.2",
                           FLAWMAP_JOB_HEARTBEAT_TIMEOUT_SECONDS="60")
    worker = start_worker(env, queues=ALL_QUEUES, name="paused-db")
    wait_until_ready(worker, name="paused-db")
    export = export_request(version=version, fmt="coco")
    paused: list[int] = []
    try:
        wait_for(lambda: _mid_export(fault_dirs["exports"]) and len(_worker_backends()) >= 2, timeout=60,
                 every=0.02, what="the export to start and its first heartbeat")
        paused = _worker_backends()
        _pause(paused, signal.SIGSTOP)
        time.sleep(30)
        assert jobs_reap_stale() == []  # the reaper, at its configured timeout, right before the database wakes
        _pause(paused, signal.SIGCONT)
        paused = []
        wait_for(lambda: _finished(export.job_id), timeout=120, what="the job to finish")
    finally:
        _pause(paused, signal.SIGCONT)
        output = kill_hard(worker)
    job = Job.objects.get(pk=export.job_id)
    assert job.status == "succeeded", (job.traceback, output[-3000:])
    assert not Job.objects.filter(retry_of=job).exists()
    _one_clean_export(export, fault_dirs["exports"])
