from datetime import timedelta

import pytest
from django.utils import timezone

from backend.core.exceptions import ApplicationError
from backend.jobs.context import job_progress_listener
from backend.jobs.models import Job
from backend.jobs.registry import job_handler
from backend.jobs.services import job_cancel, job_create, job_run, jobs_reap_stale

# Tests that need a job to run use real commits (Celery is eager, so it runs at commit); the others keep
# everything inside the test's transaction, where on-commit hooks never fire, so nothing reaches a broker
# (and the session's real worker, if one was started, cannot pick their jobs up).
runs_jobs = pytest.mark.django_db(transaction=True, serialized_rollback=True)
CALLS = []


# Test-only job kinds exercise the framework itself; the real kinds are tested where they live.
@job_handler("test_echo")
def _echo(ctx):
    CALLS.append(ctx.job.pk)
    ctx.progress(0.5, "half way")
    ctx.log("echoing")
    if ctx.params.get("fail"):
        raise RuntimeError("boom")
    return {"echo": ctx.params.get("value")}


@job_handler("test_cancel_midway")
def _cancel_midway(ctx):
    Job.objects.filter(pk=ctx.job.pk).update(cancel_requested=True)  # as POST .../cancel would
    ctx.beat()  # what the heartbeat thread does every few seconds
    ctx.progress(0.9)  # raises JobCancelled
    return {"unreachable": True}


@runs_jobs
def test_a_job_runs_once_and_keeps_its_result_progress_and_log():
    CALLS.clear()
    job, created = job_create(kind="test_echo", params={"value": 7})  # eager: runs on commit
    job.refresh_from_db()
    assert created and job.status == "succeeded" and job.result == {"echo": 7}
    assert job.progress == 1.0 and job.message == "half way" and "echoing" in job.log_tail
    assert job.started_at and job.finished_at and job.attempt == 1
    assert job_run(job_id=job.pk) is None  # a redelivered message finds it no longer queued
    assert CALLS == [job.pk]


@runs_jobs
def test_an_in_process_job_reports_its_progress_to_listeners_while_they_listen():
    heard = []
    with job_progress_listener(lambda job, fraction, message: heard.append((job.kind, fraction, message))):
        job_create(kind="test_echo", params={"value": 1})
    job_create(kind="test_echo", params={"value": 2})  # nobody listens any more
    assert heard == [("test_echo", 0.5, "half way")]


@runs_jobs
def test_a_failing_job_ends_failed_with_its_traceback():
    job, _ = job_create(kind="test_echo", params={"fail": True})
    job.refresh_from_db()
    assert job.status == "failed" and "RuntimeError: boom" in job.traceback and "failed: boom" in job.log_tail


@pytest.mark.django_db
def test_one_active_job_per_dedupe_key():
    first, created1 = job_create(kind="test_echo", dedupe_key="k", params={"value": 1})
    second, created2 = job_create(kind="test_echo", dedupe_key="k", params={"value": 2})
    assert (created1, created2) == (True, False) and first.pk == second.pk
    job_cancel(job=first)
    third, created3 = job_create(kind="test_echo", dedupe_key="k")
    assert created3 and third.pk != first.pk


@pytest.mark.django_db
def test_unknown_kind_is_a_clear_error():
    with pytest.raises(ApplicationError, match="unknown job kind 'nope'"):
        job_create(kind="nope")


@runs_jobs
def test_cancelling_a_running_job_stops_it_at_its_next_checkpoint():
    job, _ = job_create(kind="test_cancel_midway")
    job.refresh_from_db()
    assert job.status == "cancelled" and job.result == {}
    with pytest.raises(ApplicationError, match="already cancelled"):
        job_cancel(job=job)


def _running(attempt=1, max_attempts=2, seconds_silent=600):
    return Job.objects.create(
        kind="test_echo", status="running", attempt=attempt, max_attempts=max_attempts, dedupe_key="stale",
        started_at=timezone.now(), heartbeat_at=timezone.now() - timedelta(seconds=seconds_silent),
    )


@runs_jobs
def test_the_reaper_fails_a_silent_job_and_queues_one_retry(settings):
    CALLS.clear()
    stale = _running()
    fresh = Job.objects.create(kind="test_echo", status="running", heartbeat_at=timezone.now())
    assert jobs_reap_stale(timeout_seconds=60) == [stale.pk]
    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert stale.status == "failed" and "no heartbeat" in stale.message
    assert fresh.status == "running"
    retry = stale.retry
    assert retry.attempt == 2 and retry.dedupe_key == "stale"
    assert retry.status == "succeeded" and CALLS == [retry.pk]  # eager: the retry ran at commit


@pytest.mark.django_db
def test_no_retry_once_attempts_are_used_up():
    last = _running(attempt=2, max_attempts=2)
    assert jobs_reap_stale(timeout_seconds=60) == [last.pk]
    assert not Job.objects.filter(retry_of=last).exists()


@pytest.mark.django_db
def test_jobs_api_lists_and_cancels(viewer_client, annotator_client, annotator_user):
    # stays queued: its on-commit enqueue never fires in this test; its creator may cancel it
    job, _ = job_create(kind="test_echo", created_by=annotator_user)
    listed = viewer_client.get("/api/jobs/?status=queued").json()["results"]
    assert [j["id"] for j in listed] == [job.pk] and listed[0]["kind"] == "test_echo"
    assert viewer_client.post(f"/api/jobs/{job.pk}/cancel").status_code == 403
    response = annotator_client.post(f"/api/jobs/{job.pk}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert annotator_client.post(f"/api/jobs/{job.pk}/cancel").status_code == 400
    assert viewer_client.get("/api/jobs/?status=bogus").status_code == 400
