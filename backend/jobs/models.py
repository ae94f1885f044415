from django.conf import settings
from django.db import models


class Job(models.Model):
    """One long piece of work (training, pre-labelling, export, sync) and what became of it.

    queued -> running -> succeeded | failed | cancelled. A running job's worker writes `heartbeat_at`
    every few seconds; one whose heartbeat stops (the worker was killed) is failed by the reaper and, while
    attempts remain, queued again as a new Job row (`retry_of` the failed one).
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    kind = models.CharField(max_length=50, db_index=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED, db_index=True)
    queue = models.CharField(max_length=20, default="default")
    params = models.JSONField(default=dict, blank=True)
    result = models.JSONField(default=dict, blank=True)
    # Only one active job per key (e.g. one training per campaign): the trigger that loses the race no-ops.
    dedupe_key = models.CharField(max_length=200, blank=True, default="")
    progress = models.FloatField(default=0.0)
    message = models.CharField(max_length=500, blank=True, default="")
    log_tail = models.TextField(blank=True, default="")
    traceback = models.TextField(blank=True, default="")
    # A retry is a new row pointing at the attempt it repeats, so every failure keeps its own record.
    attempt = models.PositiveIntegerField(default=1)
    max_attempts = models.PositiveIntegerField(default=2)
    retry_of = models.OneToOneField("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retry")
    cancel_requested = models.BooleanField(default=False)
    worker = models.CharField(max_length=200, blank=True, default="")
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    campaign = models.ForeignKey("annotator.Campaign", null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="jobs")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["dedupe_key"], condition=models.Q(status__in=["queued", "running"]) & ~models.Q(dedupe_key=""),
                name="job_one_active_per_dedupe_key",
            ),
        ]
        indexes = [models.Index(fields=["status", "heartbeat_at"], name="job_status_heartbeat")]

    def __str__(self) -> str:
        return f"job {self.pk} {self.kind} {self.status}"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def newest_attempt(self) -> "Job":
        """The last retry of this attempt (itself when none): the reaper's retry of a lost attempt is a new
        row, so a fix or an export that keeps its first Job reads its state here."""
        job = self
        while getattr(job, "retry", None) is not None:
            job = job.retry
        return job
