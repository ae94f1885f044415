from django.db import models


class ModelVersion(models.Model):
    """A trained model (segmenter or VLM) that can annotate images."""

    class Kind(models.TextChoices):
        SEGMENTER = "segmenter", "Artifact segmenter"
        VLM = "vlm", "VLM artifact classifier"

    class Status(models.TextChoices):
        CANDIDATE = "candidate", "Candidate"
        PRODUCTION = "production", "Production"
        ARCHIVED = "archived", "Archived"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    name = models.CharField(max_length=120)
    version = models.CharField(max_length=60)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.CANDIDATE)
    checkpoint_uri = models.CharField(max_length=1024, blank=True, default="")
    config_name = models.CharField(max_length=200, blank=True, default="")
    metrics = models.JSONField(default=dict, blank=True)
    # What it was trained on; a referenced dataset version can't be deleted.
    dataset_version = models.ForeignKey("datasets.DatasetVersion", null=True, blank=True, on_delete=models.PROTECT,
                                        related_name="model_versions")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "name", "version"], name="modelversion_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}@{self.version}"
