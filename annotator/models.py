from django.conf import settings
from django.db import models

from backend.annotations.models import Annotation
from backend.images.models import GeneratedImage, Generator


class Campaign(models.Model):
    """A labelling campaign (e.g. one new generator) = one Label Studio project."""

    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(blank=True, default="")
    generator = models.ForeignKey(Generator, null=True, blank=True, on_delete=models.PROTECT, related_name="campaigns")
    ls_project_id = models.PositiveIntegerField(null=True, blank=True, unique=True)
    ls_webhook_id = models.PositiveIntegerField(null=True, blank=True)
    # Newest Label Studio `updated_at` the reconcile job has applied.
    reconciled_until = models.DateTimeField(null=True, blank=True)
    # Share of pushed tasks sent without a prediction (chosen by annotator.holdout), so that the time pre-labels
    # save can be measured against a randomised control instead of whichever images happened to have none.
    prelabel_holdout = models.FloatField(default=0.0)
    # How its model is retrained as labels arrive is the learning loop's: learning.RetrainPolicy.
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.CheckConstraint(condition=models.Q(prelabel_holdout__gte=0.0, prelabel_holdout__lte=1.0),
                                              name="campaign_prelabel_holdout_is_a_share")]

    def __str__(self) -> str:
        return self.name


class CampaignTask(models.Model):
    """An image sent to the campaign's project, and the Label Studio task it became."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="tasks")
    image = models.ForeignKey(GeneratedImage, on_delete=models.CASCADE, related_name="campaign_tasks")
    ls_task_id = models.PositiveIntegerField(unique=True)
    prediction = models.ForeignKey(Annotation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Decided once, at push: a later prediction for the image is never added to a held-out task.
    prelabel_held_out = models.BooleanField(default=False)
    # What Label Studio shows its labeller (Annotation.Prelabel); intake copies it onto the pass. Blank: not known
    # (pushed before this was recorded, or a task adopted from the project as it was).
    prelabel = models.CharField(max_length=10, choices=Annotation.Prelabel.choices, blank=True, default="")
    pushed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign", "image"], name="campaigntask_once_per_campaign")]


class LabelStudioUser(models.Model):
    ls_user_id = models.PositiveIntegerField(unique=True)
    email = models.CharField(max_length=254, blank=True, default="")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="labelstudio_accounts")


class SyncedAnnotation(models.Model):
    """Which Flawmap annotation a Label Studio annotation became, at which upstream version.

    (ls_annotation_id, ls_updated_at) is the idempotency key: a replayed webhook or a reconcile pass
    that sees the same version stores nothing new.
    """

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="synced_annotations")
    ls_annotation_id = models.PositiveIntegerField(unique=True)
    ls_task_id = models.PositiveIntegerField()
    ls_updated_at = models.DateTimeField()
    annotation = models.ForeignKey(Annotation, on_delete=models.CASCADE, related_name="+")
    deleted_at = models.DateTimeField(null=True, blank=True)


class WebhookEvent(models.Model):
    """One delivery from Label Studio (or one annotation found by reconcile), and what became of it."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PROCESSED = "processed", "Processed"
        SKIPPED = "skipped", "Skipped (already stored)"
        FAILED = "failed", "Failed"

    class Source(models.TextChoices):
        WEBHOOK = "webhook", "Webhook"
        RECONCILE = "reconcile", "Reconcile"

    source = models.CharField(max_length=20, choices=Source.choices, default=Source.WEBHOOK)
    action = models.CharField(max_length=60)
    ls_project_id = models.PositiveIntegerField(null=True, blank=True)
    payload = models.JSONField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True)
    error = models.TextField(blank=True, default="")
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    # Redis stream entry id for deliveries that came through the webhook ingress: a drainer that dies
    # between recording and acknowledging an entry gets it again, and must not record it twice.
    delivery_id = models.CharField(max_length=40, null=True, blank=True, unique=True)

    class Meta:
        ordering = ["-received_at", "-id"]
