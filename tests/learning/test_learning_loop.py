"""The learning loop with real parts: Label Studio, the Redis broker, Celery worker processes."""

import time
import uuid

import numpy as np
import pytest
from django.db import connection

from annotator.client import ls_client
from annotator.converter import labels_to_results
from annotator.models import CampaignTask, SyncedAnnotation
from annotator.services.provision import campaign_provision
from annotator.services.push import campaign_push_images
from backend.annotations.masks import mask_array_to_canonical
from backend.annotations.services import annotation_create
from backend.core.roles import Role
from backend.core.users import user_get_or_create_with_role
from backend.jobs.models import Job
from backend.jobs.services import jobs_reap_stale
from backend.jobs.tasks import run_job
from backend.mlmodels.models import ModelVersion
from backend.mlmodels.services import model_promote, model_register
from datasets.services import dataset_create, dataset_version_build, dataset_version_start
from learning.services.retrain import retrain_policy_set
from tests.annotator.test_loop import loop, wait_for  # noqa: F401  (fixture)
from tests.celery_worker import kill_hard, start_worker, worker_env
from tests.conftest import png_bytes
from tests.factories import left_half_torchscript, make_image

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True)]
W, H = 48, 32
LEFT_HALF = np.zeros((H, W), bool)
LEFT_HALF[:, : W // 2] = True


def test_labels_past_the_threshold_queue_exactly_one_training_and_a_worse_candidate_stays_out(loop, tmp_path):
    campaign_provision(campaign=loop)
    retrain_policy_set(campaign=loop, min_new_labels=10)
    scripted = left_half_torchscript(tmp_path / "end2end.pt")
    production = model_promote(model_version=model_register(kind="segmenter", name="pal4vst", checkpoint_path=scripted))

    images = [make_image(data=png_bytes(W, H, seed=700 + i), generator=loop.generator) for i in range(10)]
    campaign_push_images(campaign=loop, image_ids=[im.pk for im in images])
    result = labels_to_results(mask=LEFT_HALF, regions=[], width=W, height=H)
    ls = ls_client().sdk
    for task in CampaignTask.objects.filter(campaign=loop).order_by("id")[:9]:
        ls.annotations.create(id=task.ls_task_id, result=result, lead_time=30.0)
    wait_for(lambda: SyncedAnnotation.objects.filter(campaign=loop).count() == 9, what="9 labels")
    time.sleep(1.0)
    assert not Job.objects.filter(kind="train_segmenter").exists()  # 9 < 10: nothing yet

    last = CampaignTask.objects.filter(campaign=loop).order_by("id").last()
    ls.annotations.create(id=last.ls_task_id, result=result, lead_time=30.0)
    wait_for(lambda: Job.objects.filter(kind="train_segmenter", status__in=["succeeded", "failed"]).exists(),
             timeout=300, what="the training job to finish")
    (job,) = Job.objects.filter(kind="train_segmenter")
    assert job.subject == loop and job.params["new_labels"] == 10
    assert job.status == "succeeded", job.traceback
    comparison = job.result["comparison"]
    assert comparison["production_artifact_IoU"] == 1.0 and not comparison["promoted"]
    assert ModelVersion.objects.get(pk=job.result["model_version"]).status == "candidate"
    production.refresh_from_db()
    assert production.status == "production"


def test_a_killed_workers_job_ends_failed_and_its_retry_succeeds(use_celery_worker):
    user = user_get_or_create_with_role(username="labeller", role=Role.ANNOTATOR)
    for i in range(20):
        annotation_create(image=make_image(data=png_bytes(W, H, seed=800 + i)), user=user,
                          mask=mask_array_to_canonical(LEFT_HALF))
    version = dataset_version_build(version=dataset_version_start(dataset=dataset_create(name="all")))
    queue = f"kill-test-{uuid.uuid4().hex[:8]}"  # only the workers started here listen to it
    job = Job.objects.create(kind="train_segmenter", queue=queue, max_attempts=2,
                             params={"dataset_version_id": version.pk, "max_iters": 40})
    run_job.apply_async(args=[job.pk], queue=queue)
    env = worker_env(connection.settings_dict["NAME"])
    first = start_worker(env, queues=queue, name=f"doomed-{queue}")
    try:
        wait_for(lambda: Job.objects.get(pk=job.pk).status == "running", timeout=120, what="the job to start")
        time.sleep(3.0)  # in the middle of exporting / training
    finally:
        kill_hard(first)  # no cleanup, no acknowledgement: the job row says "running"
    assert Job.objects.get(pk=job.pk).status == "running"
    time.sleep(3.0)
    assert jobs_reap_stale(timeout_seconds=2) == [job.pk]
    job.refresh_from_db()
    assert job.status == "failed" and "no heartbeat" in job.message
    retry = Job.objects.get(retry_of=job)
    assert retry.attempt == 2
    second = start_worker(env, queues=queue, name=f"rescuer-{queue}")
    try:
        deadline = time.monotonic() + 900  # 40 iterations: minutes when the machine is busy
        while Job.objects.get(pk=retry.pk).status not in ("succeeded", "failed") and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        output = kill_hard(second)
    assert "Traceback" not in output, output[-3000:]
    retry.refresh_from_db()
    assert retry.status == "succeeded", (retry.status, retry.message, retry.traceback, output[-2000:])
    assert retry.result["comparison"]["promoted"]  # the first segmenter ever
