"""Write side of jobs: create (deduplicated), run with heartbeat, cancel, reap jobs whose worker died and send
again the messages of jobs the broker never got."""

from __future__ import annotations

import logging
import socket
import traceback as tb
import uuid
from contextlib import nullcontext
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from kombu.exceptions import KombuError

from backend.core.exceptions import ApplicationError, RoleRefused, ServiceUnavailable
from backend.core.roles import Role, user_role
from backend.jobs.context import JobCancelled, JobContext
from backend.jobs.lease import JobLeaseLost
from backend.jobs.models import Job
from backend.jobs.registry import job_kind

logger = logging.getLogger(__name__)


class BrokerUnavailable(ServiceUnavailable):
    """The job is stored as queued but its message could not be sent: 503. The row is the durable intent;
    the reaper sends it again (jobs_requeue_unsent) once the broker answers."""


def _publish(*, job_id: int, queue: str) -> None:
    """Send the job's message, bounded in time (CELERY_BROKER_TRANSPORT_OPTIONS socket_connect_timeout and
    CELERY_TASK_PUBLISH_RETRY_POLICY): a dead broker is a BrokerUnavailable, never a hung request or a 500."""
    from backend.jobs.tasks import run_job  # tasks.py imports this module (a task calls job_run)

    try:
        run_job.apply_async(args=[job_id], queue=queue)
    except Exception as exc:
        transport_errors = run_job.app.connection_for_write().connection_errors
        if not isinstance(exc, (KombuError, OSError, *transport_errors)):
            raise
        logger.warning("job %s: could not send its message to the broker: %s", job_id, exc)
        raise BrokerUnavailable(f"the job queue is unavailable: job {job_id} is recorded as queued and starts "
                                f"once the queue is back; try again later", extra={"job": job_id}) from exc


def _enqueue(job: Job) -> None:
    # After the commit, so a worker never gets the message before the row exists. A failing send raises from
    # the commit of the outermost transaction: the row stays (queued) and the caller gets the 503.
    transaction.on_commit(lambda: _publish(job_id=job.pk, queue=job.queue))


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
        job.attempt_token = uuid.uuid4()  # this attempt's lease: only its holder publishes results
        job.save(update_fields=["status", "started_at", "heartbeat_at", "worker", "attempt_token"])
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
    except JobLeaseLost as exc:
        # Reaped while it still ran: the retry owns the job now; this attempt's results were discarded.
        logger.warning("%s", exc)
        return None
    except Exception as exc:  # noqa: BLE001 - any failure ends the job with its traceback
        logger.exception("job %s (%s) failed", job.pk, job.kind)
        ctx.log(f"failed: {exc}")
        _finish(job, ctx, status=Job.Status.FAILED, error=tb.format_exc())
        return Job.Status.FAILED
    _finish(job, ctx, status=Job.Status.SUCCEEDED, result=result)
    return Job.Status.SUCCEEDED


@transaction.atomic
def job_cancel(*, job: Job, requested_by=None) -> Job:
    """Cancel a queued or running job. With `requested_by` (an API user), only an admin or the user who created
    the job may: an annotator must not stop someone else's training or export. None: the operator (CLI)."""
    if requested_by is not None and user_role(requested_by) != Role.ADMIN and job.created_by_id != requested_by.pk:
        raise RoleRefused(f"job {job.pk} was not created by you; only its creator or an admin may cancel it")
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


def jobs_requeue_unsent(*, older_than_seconds: int | None = None) -> list[int]:
    """Send again the message of jobs still queued FLAWMAP_JOB_REQUEUE_SECONDS after they were created (or last
    sent again): the broker was down when they were queued, or lost their message. Returns the ids sent.

    A job whose first message is merely waiting behind others gets a second one; the worker's claim (queued ->
    running, once) makes whichever message comes second a no-op."""
    seconds = older_than_seconds if older_than_seconds is not None else settings.FLAWMAP_JOB_REQUEUE_SECONDS
    cutoff = timezone.now() - timedelta(seconds=seconds)
    due = (Job.objects.filter(status=Job.Status.QUEUED, cancel_requested=False)
           .filter(Q(requeued_at__isnull=True, created_at__lt=cutoff) | Q(requeued_at__lt=cutoff))
           .order_by("created_at").values_list("pk", "queue"))
    sent = []
    for job_id, queue in due:  # no transaction: nothing waits on the broker with a row locked
        try:
            _publish(job_id=job_id, queue=queue)
        except BrokerUnavailable:
            break  # still down: the next cycle tries again
        Job.objects.filter(pk=job_id).update(requeued_at=timezone.now())
        sent.append(job_id)
    return sent


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
