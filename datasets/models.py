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
    # No database constraints on these three: see backend/images/locks.py. Items are written only by
    # dataset_version_build, in the transaction that creates their version (CASCADE and PROTECT act in the ORM),
    # and it pins images and annotations against deletion while it writes. Version has no index of its own:
    # the (version, image_sha256) and (version, split) indexes below start with it.
    version = models.ForeignKey(DatasetVersion, on_delete=models.CASCADE, related_name="items", db_index=False,
                                db_constraint=False)
    image = models.ForeignKey(GeneratedImage, on_delete=models.PROTECT, related_name="dataset_items",
                              db_constraint=False)
    image_sha256 = models.CharField(max_length=64)
    annotation = models.ForeignKey(Annotation, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                   db_constraint=False)
    label_source = models.CharField(max_length=10, blank=True, default="", help_text="human, model, or empty")
    mask_sha256 = models.CharField(max_length=64, blank=True, default="")
    regions = models.JSONField(default=list, blank=True)
    split = models.CharField(max_length=10)
    group = models.CharField(max_length=64, help_text="Hash of the group key value; a group shares one split.")

    class Meta:
        ordering = ["id"]
        # By content hash (one image per hash): exports read a version's items in that order, a page at a time.
        constraints = [models.UniqueConstraint(fields=["version", "image_sha256"], name="datasetitem_unique_image_sha")]
        indexes = [models.Index(fields=["version", "split"])]


class Export(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    version = models.ForeignKey(DatasetVersion, on_delete=models.PROTECT, related_name="exports")
    format = models.CharField(max_length=30)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RUNNING)
    path = models.CharField(max_length=1024, blank=True, default="", help_text=(
        "Once done: the archive's file name for an API export (its bytes are `archive`); the folder or archive "
        "written for a CLI export (or an API export made before archives went to blob storage)."))
    # An API export's archive in blob storage (S3 in production): any web host serves it, and no worker's disk
    # has to keep it. Empty for a CLI export, which stays where its operator wrote it.
    archive = models.ForeignKey("core.Blob", null=True, blank=True, on_delete=models.PROTECT, related_name="exports")
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


class Benchmark(models.Model):
    """A frozen test set for one scope: `global`, `generator:<name version>` or `task:<slug>`.

    Built once from the images of the global test split that carry a human label; the list (image, the
    annotation that was its truth, task, generator) never changes afterwards, so scores from different days
    compare. A later relabel or new image makes a new benchmark, not a changed one.
    """

    scope = models.CharField(max_length=200, db_index=True)
    name = models.CharField(max_length=200, unique=True)
    # [{"image": id, "sha256": ..., "annotation": id, "mask_sha256": "" for "no artifacts", "task": slug,
    #   "generator": "name version"}], by image content hash.
    items = models.JSONField(default=list)
    n_images = models.PositiveIntegerField()
    min_images = models.PositiveIntegerField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["scope", "-created_at", "-id"]

    def __str__(self) -> str:
        return self.name


class BenchmarkScore(models.Model):
    """One model version on one benchmark: the summary with its 95 % intervals, and per image the counts it
    was summed from (so two models can be compared on the same images with a paired bootstrap)."""

    model_version = models.ForeignKey("mlmodels.ModelVersion", on_delete=models.CASCADE,
                                      related_name="benchmark_scores")
    benchmark = models.ForeignKey(Benchmark, on_delete=models.CASCADE, related_name="scores")
    # {"iou", "iou_ci": [lo, hi], "f1", "f1_ci", "n_images", "per_task": {slug: {"iou", "iou_ci", "f1", "f1_ci",
    #  "n"}}, "per_generator": {...}}
    metrics = models.JSONField(default=dict)
    # [{"image", "task", "generator", "inter", "union", "tp", "fp", "fn"}] in the benchmark's order.
    items = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["benchmark__scope", "benchmark_id"]
        constraints = [models.UniqueConstraint(fields=["model_version", "benchmark"],
                                               name="benchmarkscore_unique_model_benchmark")]
