"""Celery entry points for jobs: thin, id in, one service call."""

from celery import shared_task

from backend.jobs.services import job_run, jobs_reap_stale, jobs_requeue_unsent


# The Job row keeps the outcome; a Celery result would also make every web process that queues a job
# subscribe to the result store, and wait there ~20 s when Redis is down instead of answering 503 at once.
@shared_task(name="jobs.run", ignore_result=True)
def run_job(job_id: int) -> str | None:
    return job_run(job_id=job_id)


@shared_task(name="jobs.reap_stale")
def reap_stale() -> list[int]:
    return jobs_reap_stale()


@shared_task(name="jobs.requeue_unsent")
def requeue_unsent() -> list[int]:
    return jobs_requeue_unsent()
