from django.db import models

from backend.core.models import Blob


class Generator(models.Model):
    class Family(models.TextChoices):
        GAN = "gan", "GAN"
        DIFFUSION = "diffusion", "Diffusion"
        AUTOREGRESSIVE = "autoregressive", "Autoregressive"
        OTHER = "other", "Other"

    name = models.CharField(max_length=120)
    version = models.CharField(max_length=60, blank=True, default="")
    family = models.CharField(max_length=20, choices=Family.choices, default=Family.OTHER)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "version"]
        constraints = [models.UniqueConstraint(fields=["name", "version"], name="generator_unique_name_version")]

    def __str__(self) -> str:
        return f"{self.name} {self.version}".strip()


class SynthesisTask(models.Model):
    """What the generator was asked to do (PAL4VST's ten tasks, real photos, other); data, not code."""

    slug = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    is_conditional = models.BooleanField(default=False)
    order = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["order", "slug"]

    def __str__(self) -> str:
        return self.slug


class GeneratedImage(models.Model):
    blob = models.OneToOneField(Blob, on_delete=models.PROTECT, related_name="image")
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    format = models.CharField(max_length=10)
    generator = models.ForeignKey(Generator, on_delete=models.PROTECT, related_name="images")
    task = models.ForeignKey(SynthesisTask, on_delete=models.PROTECT, related_name="images")
    prompt = models.TextField(blank=True, default="")
    seed = models.BigIntegerField(null=True, blank=True)
    domain = models.CharField(max_length=60, blank=True, default="", db_index=True)
    source_uri = models.CharField(max_length=1024, blank=True, default="")
    original_name = models.CharField(max_length=255, blank=True, default="")
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # Summary of the image's current representative mask, kept by the annotation services so
    # lists can filter and order by it without joins: human masks win over model masks.
    par = models.FloatField(null=True, blank=True, db_index=True)
    par_source = models.CharField(max_length=10, blank=True, default="")
    is_labelled = models.BooleanField(default=False, db_index=True)
    # An image made by fixing another one's artifacts (backend/quality): its source, and the PAR the
    # segmenter measured before and after. Fixed images are not a generator's own output, so the
    # leaderboard leaves out every image with fix_par_before set (kept even if the source is deleted).
    fixed_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="fixes")
    fix_par_before = models.FloatField(null=True, blank=True)
    fix_par_after = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    @property
    def sha256(self) -> str:
        return self.blob_id

    def __str__(self) -> str:
        return f"image {self.pk} ({self.blob_id[:12]})"


class ConditionalInput(models.Model):
    """A file the generator was conditioned on (edge map, pose, mask, low-res image, …)."""

    class Role(models.TextChoices):
        EDGE = "edge", "Edge map"
        POSE = "pose", "Pose"
        MASK = "mask", "Mask"
        LOW_RES = "low_res", "Low-resolution image"
        REFERENCE = "reference", "Reference image"
        PROMPT_TEXT = "prompt_text", "Prompt text"

    image = models.ForeignKey(GeneratedImage, on_delete=models.CASCADE, related_name="conditional_inputs")
    role = models.CharField(max_length=20, choices=Role.choices)
    blob = models.ForeignKey(Blob, on_delete=models.PROTECT, related_name="conditional_inputs")
    original_name = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        ordering = ["id"]
