"""Redis down: endpoints that queue work answer 503 with a message and the job stays queued; once Redis is back,
the reaper (celery beat) sends the job again and it runs within two reaper cycles."""

import time

import pytest

from backend.jobs.models import Job
from backend.jobs.services import job_cancel
from datasets.models import Export
from datasets.services import dataset_create, dataset_version_build, dataset_version_start
from tests.celery_worker import ALL_QUEUES, kill_hard, start_worker, wait_until_ready
from tests.datasets.helpers import labelled_image
from tests.reliability.conftest import fault_worker_env, wait_for

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)
REAP_EVERY = 2


def test_queueing_while_redis_is_down_is_a_503_and_the_reaper_runs_the_job_once_it_is_back(
        on_private_broker, fault_dirs, admin_client, annotator_user, tmp_path):
    redis = on_private_broker
    for seed in range(3):
        labelled_image(annotator_user, seed=seed)
    dataset = dataset_create(name="faults")
    version = dataset_version_build(version=dataset_version_start(dataset=dataset))
    redis.stop()

    started = time.monotonic()
    export_response = admin_client.post(f"/api/datasets/{dataset.pk}/versions/{version.number}/exports",
                                        {"format": "coco"}, format="json")
    # A dead broker costs a connect attempt and one retry, not a hung request (the acceptance bound).
    assert time.monotonic() - started < 10
    assert export_response.status_code == 503, export_response.content
    body = export_response.json()
    assert "queue is unavailable" in body["detail"] and body["job"]
    export_job = Job.objects.get(pk=body["job"])
    assert export_job.status == "queued" and export_job.kind == "dataset_export"
    assert Export.objects.get(job=export_job).status == "running"  # the request is kept, not half-stored

    train_response = admin_client.post("/api/models/train", {"dataset": dataset.pk, "max_iters": 1}, format="json")
    assert train_response.status_code == 503, train_response.content
    train_job = Job.objects.get(pk=train_response.json()["job"])
    assert train_job.status == "queued" and train_job.kind == "train_segmenter"
    job_cancel(job=train_job)  # stays out of the worker below: training is tested in test_worker_killed.py

    redis.start()  # an empty Redis on the same port: the messages that were never sent are not there either
    env = fault_worker_env(redis, fault_dirs, FLAWMAP_JOB_REAP_EVERY_SECONDS=str(REAP_EVERY),
                           FLAWMAP_JOB_REQUEUE_SECONDS="1")
    worker = start_worker(env, queues=ALL_QUEUES, name="requeue", beat_schedule=tmp_path / "beat-schedule")
    try:
        wait_until_ready(worker, name="requeue")
        ready = time.monotonic()
        wait_for(lambda: Job.objects.get(pk=export_job.pk).status != "queued", timeout=2 * REAP_EVERY + 5,
                 what="the reaper to send the queued export job again")
        claimed_after = time.monotonic() - ready
        wait_for(lambda: Job.objects.get(pk=export_job.pk).status in ("succeeded", "failed"), timeout=60,
                 what="the export job to finish")
    finally:
        output = kill_hard(worker)
    export_job.refresh_from_db()
    assert export_job.status == "succeeded", (export_job.traceback, output[-3000:])
    assert claimed_after <= 2 * REAP_EVERY + 5  # two reaper cycles, plus the embedded beat's start
    assert Export.objects.get(job=export_job).status == "done"
    assert Job.objects.filter(kind="dataset_export").count() == 1  # sent again, not queued twice
    assert Job.objects.get(pk=train_job.pk).status == "cancelled"
    print(f"\nexport job claimed {claimed_after:.1f} s after the worker answered (reap every {REAP_EVERY} s)")
