from django.conf import settings
from django.db import models

from backend.images.models import GeneratedImage
from backend.jobs.models import Job
from backend.mlmodels.models import ModelVersion

# How a fix reads its Job's state (the Job is the one status machine: heartbeat, retry, cancel).
_STATUS_OF_JOB = {Job.Status.QUEUED: "pending", Job.Status.RUNNING: "running", Job.Status.SUCCEEDED: "done",
                  Job.Status.FAILED: "failed", Job.Status.CANCELLED: "cancelled"}


class FixJob(models.Model):
    """One request to fix an image's artifacts: the segmenter finds them, an inpainter fills them, and the
    result is stored as a new GeneratedImage pointing back at its source (`fixed_from`).

    The work runs as a `fix_image` Job (queue gpu), so it is listed in /api/jobs/, can be cancelled, and a
    worker killed mid-fix fails the attempt and queues a retry instead of leaving the fix "running"."""

    job = models.OneToOneField(Job, on_delete=models.PROTECT, related_name="fix")
    image = models.ForeignKey(GeneratedImage, on_delete=models.CASCADE, related_name="fix_jobs")
    # The production segmenter when the job was requested: it finds the artifacts and measures PAR after.
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="fix_jobs")
    mode = models.CharField(max_length=10)
    backend = models.CharField(max_length=40)
    dilate = models.PositiveIntegerField()
    # Done with no result: the segmenter found nothing to fix.
    result = models.ForeignKey(GeneratedImage, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    par_before = models.FloatField(null=True, blank=True)
    par_after = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"fix job {self.pk} of image {self.image_id}"

    @property
    def attempt(self) -> Job:
        """The newest attempt: the reaper's retry of a lost attempt is a new Job row (`retry_of` the old)."""
        return self.job.newest_attempt

    @property
    def status(self) -> str:
        """pending, running, done, failed or cancelled: the newest attempt's state."""
        return _STATUS_OF_JOB[self.attempt.status]

    @property
    def finished_at(self):
        return self.attempt.finished_at

    @property
    def reason(self) -> str:
        """Why it failed: the fix's own error, else the job's (e.g. "worker lost: no heartbeat ...")."""
        attempt = self.attempt
        if attempt.status in (Job.Status.FAILED, Job.Status.CANCELLED):
            return self.error or attempt.message or attempt.status
        return ""


class ImageLabelCheck(models.Model):
    """Per-image figures the browser sorts and filters on, stored so no page computes them: how far the human mask
    is from the production model's (the label-error finder), the model's uncertainty, and which pass stands for
    the image. Refreshed after every change to the image's passes (backend/quality/receivers.py)."""

    image = models.OneToOneField(GeneratedImage, primary_key=True, on_delete=models.CASCADE,
                                 related_name="label_check")
    # The pass the label summary (GeneratedImage.par, par_source) comes from: what the gallery's thumbnail shows.
    representative = models.ForeignKey("annotations.Annotation", null=True, blank=True, on_delete=models.SET_NULL,
                                       related_name="+")
    human = models.ForeignKey("annotations.Annotation", null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    model = models.ForeignKey("annotations.Annotation", null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    # 1 - IoU of the two masks (a "no artifacts" pass is an empty mask; two empty masks agree: 0) and the number of
    # pixels on which they differ. Null unless the image has both a human and a segmenter pass.
    disagreement = models.FloatField(null=True, blank=True, db_index=True)
    differing_pixels = models.BigIntegerField(null=True, blank=True)
    # Mean pixel entropy (bits) of the newest segmenter prediction of the image (ImagePrediction.entropy).
    uncertainty = models.FloatField(null=True, blank=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"label check of image {self.image_id}"
