"""Celery entry points for jobs: thin, id in, one service call."""

from celery import shared_task

from backend.jobs.services import job_run, jobs_reap_stale


@shared_task(name="jobs.run")
def run_job(job_id: int) -> str | None:
    return job_run(job_id=job_id)


@shared_task(name="jobs.reap_stale")
def reap_stale() -> list[int]:
    return jobs_reap_stale()
