from django.conf import settings
from django.db import models

from backend.images.models import GeneratedImage
from backend.mlmodels.models import ModelVersion


class FixJob(models.Model):
    """One request to fix an image's artifacts: the segmenter finds them, an inpainter fills them, and the
    result is stored as a new GeneratedImage pointing back at its source (`fixed_from`)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    image = models.ForeignKey(GeneratedImage, on_delete=models.CASCADE, related_name="fix_jobs")
    # The production segmenter when the job was requested: it finds the artifacts and measures PAR after.
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="fix_jobs")
    mode = models.CharField(max_length=10)
    backend = models.CharField(max_length=40)
    dilate = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    # Done with no result: the segmenter found nothing to fix.
    result = models.ForeignKey(GeneratedImage, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    par_before = models.FloatField(null=True, blank=True)
    par_after = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"fix job {self.pk} of image {self.image_id} ({self.status})"
