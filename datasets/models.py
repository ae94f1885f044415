from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

from backend.annotations.models import Annotation
from backend.images.models import GeneratedImage, Generator, SynthesisTask

DEFAULT_SPLITS = {"train": 0.8, "val": 0.1, "test": 0.1}
DATASET_NAME_MAX_LENGTH = 120
# A dataset's name becomes part of file names (exports) and of NAME@N specs on the command line: a lowercase
# slug can neither leave a folder ("../x", "/tmp/x") nor be read two ways. \Z, not $: $ accepts a final newline.
dataset_name_validator = RegexValidator(
    r"^[a-z0-9][a-z0-9_-]*\Z",
    message="a dataset name is a slug: lowercase letters, digits, '-' and '_', starting with a letter or digit",
)


class Dataset(models.Model):
    """A named selection of images and the rules that turn it into versions.

    Selection filters may change between versions; the label policy and the split rules may not once a
    version exists, or items would move between splits.
    """

    class LabelPolicy(models.TextChoices):
        LATEST_HUMAN = "latest_human", "Latest submitted or reviewed human annotation"
        REVIEWED_ONLY = "reviewed_only", "Reviewed human annotations only"
        ALLOW_MODEL = "allow_model", "Human first, else the latest model annotation (marked as such)"

    class GroupKey(models.TextChoices):
        IMAGE = "image", "Each image on its own"
        PROMPT = "prompt", "Images with the same prompt share a split"
        SEED = "seed", "Images with the same generator and seed share a split"
        SOURCE = "source", "Images with the same source URI share a split"

    class LabelStatus(models.TextChoices):
        LABELLED = "labelled", "Only images with a label under the policy"
        ANY = "any", "All selected images, labelled or not"

    name = models.CharField(max_length=DATASET_NAME_MAX_LENGTH, unique=True, validators=[dataset_name_validator])
    description = models.TextField(blank=True, default="")
    generators = models.ManyToManyField(Generator, blank=True, related_name="datasets")
    tasks = models.ManyToManyField(SynthesisTask, blank=True, related_name="datasets")
    created_after = models.DateTimeField(null=True, blank=True)
    created_before = models.DateTimeField(null=True, blank=True)
    label_status = models.CharField(max_length=20, choices=LabelStatus.choices, default=LabelStatus.LABELLED)
    classes = models.JSONField(default=list, blank=True, help_text="Artifact class slugs; empty = any.")
    label_policy = models.CharField(max_length=20, choices=LabelPolicy.choices, default=LabelPolicy.LATEST_HUMAN)
    group_key = models.CharField(max_length=20, choices=GroupKey.choices, default=GroupKey.IMAGE)
    splits = models.JSONField(default=dict, help_text='Split shares, e.g. {"train": 0.8, "val": 0.1, "test": 0.1}.')
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class DatasetVersion(models.Model):
    """An immutable snapshot: which images, which label each, which split. Listed only once complete."""

    class Status(models.TextChoices):
        BUILDING = "building", "Building"
        READY = "ready", "Ready"

    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="+")
    note = models.TextField(blank=True, default="")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.BUILDING)
    manifest_hash = models.CharField(max_length=64, blank=True, default="")
    counts = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["dataset", "number"]
        constraints = [models.UniqueConstraint(fields=["dataset", "number"], name="datasetversion_unique_number")]

    def __str__(self) -> str:
        return f"{self.dataset.name}@v{self.number}"


class DatasetItem(models.Model):
    version = models.ForeignKey(DatasetVersion, on_delete=models.CASCADE, related_name="items")
    image = models.ForeignKey(GeneratedImage, on_delete=models.PROTECT, related_name="dataset_items")
    image_sha256 = models.CharField(max_length=64)
    annotation = models.ForeignKey(Annotation, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    label_source = models.CharField(max_length=10, blank=True, default="", help_text="human, model, or empty")
    mask_sha256 = models.CharField(max_length=64, blank=True, default="")
    regions = models.JSONField(default=list, blank=True)
    split = models.CharField(max_length=10)
    group = models.CharField(max_length=64, help_text="Hash of the group key value; a group shares one split.")

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["version", "image"], name="datasetitem_unique_image")]
        indexes = [models.Index(fields=["version", "split"])]


class Export(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    version = models.ForeignKey(DatasetVersion, on_delete=models.PROTECT, related_name="exports")
    format = models.CharField(max_length=30)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RUNNING)
    path = models.CharField(max_length=1024, blank=True, default="", help_text="Folder or archive, once done.")
    error = models.TextField(blank=True, default="")
    # The dataset_export Job that writes it (progress, log, heartbeat, retry); none for a CLI export, which
    # runs in the foreground.
    job = models.OneToOneField("jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="export")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
