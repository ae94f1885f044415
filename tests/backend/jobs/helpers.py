from datetime import timedelta

from django.utils import timezone

from backend.jobs.models import Job


def worker_killed(job_id: int, *, last_attempt: bool = False) -> None:
    """What a worker killed mid-job leaves: a running job whose heartbeat stopped (for the reaper to find);
    with `last_attempt`, one whose attempts are used up, so no retry follows."""
    fields = {"status": "running", "started_at": timezone.now(), "heartbeat_at": timezone.now() - timedelta(minutes=10)}
    if last_attempt:
        fields["attempt"] = Job.objects.get(pk=job_id).max_attempts
    Job.objects.filter(pk=job_id).update(**fields)
