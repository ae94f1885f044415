"""Thin Celery jobs for the quality tools: ids in, one service call, idempotent through the status guard."""

from celery import shared_task

from backend.quality.services import fix_job_run


@shared_task(name="quality.fix_image")
def fix_image(job_id: int) -> str | None:
    job = fix_job_run(job_id=job_id)
    return None if job is None else job.status
