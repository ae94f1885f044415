"""Write side of jobs: create (deduplicated), run with heartbeat, cancel, and reap jobs whose worker died."""

from __future__ import annotations

import logging
import socket
import traceback as tb
from contextlib import nullcontext
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from backend.core.exceptions import ApplicationError
from backend.jobs.context import JobCancelled, JobContext
from backend.jobs.models import Job
from backend.jobs.registry import job_kind

logger = logging.getLogger(__name__)


def _enqueue(job: Job) -> None:
    from backend.jobs.tasks import run_job  # tasks.py imports this module (a task calls job_run)

    transaction.on_commit(lambda: run_job.apply_async(args=[job.pk], queue=job.queue))


def job_create(
    *, kind: str, params: dict | None = None, dedupe_key: str = "", created_by=None, subject=None
) -> tuple[Job, bool]:
    """Queue a job of a registered kind; returns (job, created). With a `dedupe_key` that an active job
    already holds, that job is returned instead and nothing new is queued. `subject` is the row the job works
    on (any model), for listing a campaign's jobs and the like."""
    try:
        spec = job_kind(kind)
    except KeyError as exc:
        raise ApplicationError(str(exc.args[0])) from exc
    with transaction.atomic():
        if dedupe_key:
            active = Job.objects.filter(dedupe_key=dedupe_key, status__in=Job.ACTIVE).first()
            if active is not None:
                return active, False
        try:
            with transaction.atomic():
                job = Job.objects.create(
                    kind=kind, queue=spec.queue, params=params or {}, dedupe_key=dedupe_key,
                    max_attempts=spec.max_attempts, created_by=created_by, subject=subject,
                )
        except IntegrityError:
            # A concurrent trigger queued the same work first (partial unique index on dedupe_key).
            return Job.objects.get(dedupe_key=dedupe_key, status__in=Job.ACTIVE), False
        _enqueue(job)
    return job, True


def _claim(job_id: int) -> Job | None:
    """queued -> running, exactly once: a redelivered or duplicate message finds it no longer queued."""
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status != Job.Status.QUEUED:
            return None
        now = timezone.now()
        if job.cancel_requested:
            job.status, job.finished_at = Job.Status.CANCELLED, now
            job.save(update_fields=["status", "finished_at"])
            return None
        job.status, job.started_at, job.heartbeat_at = Job.Status.RUNNING, now, now
        job.worker = socket.gethostname()[:200]
        job.save(update_fields=["status", "started_at", "heartbeat_at", "worker"])
        return job


def _finish(job: Job, ctx: JobContext, *, status: str, result: dict | None = None, error: str = "") -> None:
    snapshot = ctx.snapshot()
    fields = {
        "status": status, "finished_at": timezone.now(), "heartbeat_at": timezone.now(),
        "log_tail": snapshot["log_tail"], "message": snapshot["message"],
        "progress": 1.0 if status == Job.Status.SUCCEEDED else snapshot["progress"],
    }
    if result is not None:
        fields["result"] = result
    if error:
        fields["traceback"] = error
    # Only a job still running is finished here: the reaper may have failed it meanwhile (a worker that
    # was paused, not dead); its retry then owns the work and this late result is dropped.
    Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).update(**fields)


def job_run(*, job_id: int) -> str | None:
    """Run a queued job in this process. Returns its final status, or None when it was not ours to run."""
    job = _claim(job_id)
    if job is None:
        return None
    spec = job_kind(job.kind)
    ctx = JobContext(job)
    # The heartbeat thread runs only on a worker: in-process (eager) runs have no worker to lose.
    heartbeat = nullcontext() if settings.CELERY_TASK_ALWAYS_EAGER else ctx
    try:
        with heartbeat:
            result = spec.run(ctx) or {}
    except JobCancelled:
        _finish(job, ctx, status=Job.Status.CANCELLED)
        return Job.Status.CANCELLED
    except Exception as exc:  # noqa: BLE001 - any failure ends the job with its traceback
        logger.exception("job %s (%s) failed", job.pk, job.kind)
        ctx.log(f"failed: {exc}")
        _finish(job, ctx, status=Job.Status.FAILED, error=tb.format_exc())
        return Job.Status.FAILED
    _finish(job, ctx, status=Job.Status.SUCCEEDED, result=result)
    return Job.Status.SUCCEEDED


@transaction.atomic
def job_cancel(*, job: Job) -> Job:
    job = Job.objects.select_for_update().get(pk=job.pk)
    if job.status == Job.Status.QUEUED:
        job.status, job.cancel_requested, job.finished_at = Job.Status.CANCELLED, True, timezone.now()
        job.save(update_fields=["status", "cancel_requested", "finished_at"])
    elif job.status == Job.Status.RUNNING:
        job.cancel_requested = True  # the worker's heartbeat notices and stops the handler
        job.save(update_fields=["cancel_requested"])
    else:
        raise ApplicationError(f"job {job.pk} is already {job.status}")
    return job


def jobs_reap_stale(*, timeout_seconds: int | None = None) -> list[int]:
    """Fail running jobs whose heartbeat stopped (worker killed or lost) and queue a retry while the
    job's attempts allow. Returns the ids of the jobs failed."""
    timeout = timeout_seconds if timeout_seconds is not None else settings.FLAWMAP_JOB_HEARTBEAT_TIMEOUT_SECONDS
    cutoff = timezone.now() - timedelta(seconds=timeout)
    reaped = []
    with transaction.atomic():
        stale = Job.objects.select_for_update(skip_locked=True).filter(
            status=Job.Status.RUNNING, heartbeat_at__lt=cutoff
        )
        for job in stale:
            job.status, job.finished_at = Job.Status.FAILED, timezone.now()
            job.message = f"worker lost: no heartbeat for over {timeout} s"
            job.traceback = job.traceback or job.message
            job.save(update_fields=["status", "finished_at", "message", "traceback"])
            reaped.append(job.pk)
            if job.attempt < job.max_attempts and not job.cancel_requested:
                retry = Job.objects.create(
                    kind=job.kind, queue=job.queue, params=job.params, dedupe_key=job.dedupe_key,
                    attempt=job.attempt + 1, max_attempts=job.max_attempts, retry_of=job,
                    created_by=job.created_by, subject_type_id=job.subject_type_id, subject_id=job.subject_id,
                )
                _enqueue(retry)
            else:
                _lost_for_good(job)
    return reaped


def _lost_for_good(job: Job) -> None:
    """Let the job's kind close what it was writing; a failing hook must not stop the reaper."""
    try:
        on_lost = job_kind(job.kind).on_lost
    except KeyError:  # a kind no longer registered: nothing to close
        return
    if on_lost is None:
        return
    try:
        with transaction.atomic():
            on_lost(job)
    except Exception:  # noqa: BLE001
        logger.exception("job %s (%s): on_lost failed", job.pk, job.kind)
