"""A job attempt's lease: only the attempt that still holds its job publishes results.

The reaper fails a job whose heartbeat stopped and queues a retry. A worker that was only slow (paused, cut
off from the database) is still running that attempt; when it gets to the end it must not add a second model
version or export beside the retry's. So the step that makes results visible runs inside `job_lease`: one
transaction that first locks the job row and checks the attempt's token and that the job is still running.
The reaper skips locked rows, so it cannot fail the job half way through a publish.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import transaction
from django.utils import timezone

from backend.jobs.models import Job


class JobLeaseLost(Exception):
    """This attempt no longer holds its job (it was reaped, cancelled or claimed again): publish nothing."""


@contextmanager
def job_lease(*, job_id: int, token: uuid.UUID | None) -> Iterator[None]:
    """Run the block (the writes that publish a job's results) in a transaction that holds the job's row lock,
    only while attempt `token` still holds the job; raises JobLeaseLost (and the block does not run) otherwise.

    An exception from the block rolls its writes back; the caller removes the files it had prepared."""
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).only("status", "attempt_token").first()
        if job is None or token is None or job.attempt_token != token or job.status != Job.Status.RUNNING:
            state = "deleted" if job is None else job.status
            raise JobLeaseLost(f"job {job_id}: this attempt lost its lease (the job is {state}); "
                               f"its results are discarded")
        # A fresh heartbeat: the reaper must not fail the job between this publish and the job's end.
        Job.objects.filter(pk=job_id).update(heartbeat_at=timezone.now())
        yield
