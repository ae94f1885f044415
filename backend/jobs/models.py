from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models


class JobQuerySet(models.QuerySet):
    def for_subject(self, subject: models.Model) -> "JobQuerySet":
        """Jobs working on `subject` (a campaign, a dataset, ...)."""
        return self.filter(subject_type=ContentType.objects.get_for_model(subject), subject_id=subject.pk)


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
    # A fresh token per claim: only the attempt holding it may publish results (backend.jobs.lease), so an
    # attempt the reaper gave up on while it still ran cannot add a second model version or export.
    attempt_token = models.UUIDField(null=True, blank=True, editable=False)
    # When the reaper last sent a queued job's message again (it was never sent: the broker was down, or lost).
    requeued_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True, default="")
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    # What the job works on, of any app (a campaign, ...): the job engine sits below every app that queues jobs,
    # so it names none of them.
    subject_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    subject_id = models.PositiveBigIntegerField(null=True, blank=True)
    subject = GenericForeignKey("subject_type", "subject_id")

    objects = JobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["dedupe_key"], condition=models.Q(status__in=["queued", "running"]) & ~models.Q(dedupe_key=""),
                name="job_one_active_per_dedupe_key",
            ),
        ]
        indexes = [models.Index(fields=["status", "heartbeat_at"], name="job_status_heartbeat"),
                   models.Index(fields=["subject_type", "subject_id"], name="job_subject")]

    def __str__(self) -> str:
        return f"job {self.pk} {self.kind} {self.status}"

    @property
    def subject_label(self) -> str | None:
        """`app_label.model` of the subject, as the API names it."""
        if self.subject_type_id is None:
            return None
        subject_type = ContentType.objects.get_for_id(self.subject_type_id)  # cached by Django
        return f"{subject_type.app_label}.{subject_type.model}"

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
