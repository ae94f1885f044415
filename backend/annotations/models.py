from django.conf import settings
from django.db import models

from backend.core.models import Blob
from backend.images.models import GeneratedImage
from backend.mlmodels.models import ModelVersion
from backend.taxonomy.models import ArtifactClass


class Annotation(models.Model):
    """One labelling pass on one image by one annotator: a human user or a model version.

    Replacing an annotation never overwrites it: the new pass points at the old one through
    `previous` and the old one stops being current, so the whole history stays queryable.
    """

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SUBMITTED = "submitted", "Submitted"
        REVIEWED = "reviewed", "Reviewed"
        REJECTED = "rejected", "Rejected"

    class Prelabel(models.TextChoices):
        """What the labeller was shown. Blank: not known (passes from before this was recorded, or not from a
        campaign's Label Studio project)."""

        SHOWN = "shown", "A model prediction was shown"
        WITHHELD = "withheld", "A prediction existed but the randomised holdout withheld it"
        NONE = "none", "No prediction existed to show"

    image = models.ForeignKey(GeneratedImage, on_delete=models.CASCADE, related_name="annotations")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="annotations"
    )
    model_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="annotations"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.SUBMITTED)
    lead_time = models.FloatField(null=True, blank=True, help_text="Seconds spent labelling.")
    started_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    no_artifacts = models.BooleanField(default=False, help_text="Annotator said the image is clean.")
    prelabel = models.CharField(max_length=10, choices=Prelabel.choices, blank=True, default="",
                                help_text="Human passes from Label Studio: whether a model prediction was shown.")
    score = models.FloatField(null=True, blank=True, help_text="Model confidence, for model annotations.")
    deleted_at = models.DateTimeField(null=True, blank=True, help_text="Set when the pass was deleted upstream.")
    is_current = models.BooleanField(default=True)
    previous = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="replaced_by"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(user__isnull=False, model_version__isnull=True)
                    | models.Q(user__isnull=True, model_version__isnull=False)
                ),
                name="annotation_exactly_one_annotator",
            ),
        ]
        indexes = [models.Index(fields=["image", "is_current"])]

    @property
    def prediction_shown(self) -> bool | None:
        return None if not self.prelabel else self.prelabel == self.Prelabel.SHOWN

    @property
    def source(self) -> str:
        return "model" if self.model_version_id else "human"

    def __str__(self) -> str:
        return f"annotation {self.pk} on image {self.image_id}"


class MaskLabel(models.Model):
    """Per-pixel binary artifact mask (0/1 palette PNG, image-sized) with its PAR."""

    annotation = models.ForeignKey(Annotation, on_delete=models.CASCADE, related_name="masks")
    blob = models.ForeignKey(Blob, on_delete=models.PROTECT, related_name="masks")
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    artifact_pixels = models.PositiveBigIntegerField()
    par = models.FloatField(help_text="Perceptual Artifacts Ratio: artifact area / image area.")

    class Meta:
        ordering = ["id"]


class RegionLabel(models.Model):
    """One artifact: a pixel box, its class and a caption; may point at the mask it outlines."""

    annotation = models.ForeignKey(Annotation, on_delete=models.CASCADE, related_name="regions")
    x1 = models.FloatField()
    y1 = models.FloatField()
    x2 = models.FloatField()
    y2 = models.FloatField()
    artifact_class = models.ForeignKey(ArtifactClass, on_delete=models.PROTECT, related_name="regions")
    caption = models.TextField(blank=True, default="")
    mask = models.ForeignKey(MaskLabel, null=True, blank=True, on_delete=models.SET_NULL, related_name="regions")

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(x2__gt=models.F("x1"), y2__gt=models.F("y1")), name="regionlabel_box_positive"
            ),
        ]
