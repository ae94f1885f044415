from django.db import models

from annotator.models import Campaign


class ActiveLearningRound(models.Model):
    """One `next-batch` pick on a campaign: which strategy chose how many images, by which production model,
    and that model's test metrics at the time (the metrics after the round are the next model's)."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="learning_rounds")
    number = models.PositiveIntegerField()
    strategy = models.CharField(max_length=30)
    k = models.PositiveIntegerField(help_text="Images asked for.")
    candidates = models.PositiveIntegerField(help_text="Unlabelled images the strategy chose from.")
    picked = models.PositiveIntegerField()
    pushed = models.PositiveIntegerField(help_text="Picked images that became new Label Studio tasks.")
    model_version = models.ForeignKey("mlmodels.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL,
                                      related_name="learning_rounds")
    model_metrics = models.JSONField(default=dict, blank=True,
                                     help_text="The picking model's test metrics when the round ran.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["campaign", "number"], name="learninground_unique_number")]

    def __str__(self) -> str:
        return f"{self.campaign.name} round {self.number}"


class RetrainPolicy(models.Model):
    """How a campaign's model is retrained as its labels arrive; a campaign without one follows the settings."""

    campaign = models.OneToOneField(Campaign, on_delete=models.CASCADE, primary_key=True, related_name="retrain_policy")
    # What retraining snapshots when the campaign's labels cross the threshold; empty = the "unified" dataset
    # (every labelled image), so the one production model keeps learning all generators.
    training_dataset = models.ForeignKey("datasets.Dataset", null=True, blank=True, on_delete=models.SET_NULL,
                                         related_name="retrain_policies")
    # Overrides RETRAIN_MIN_NEW_LABELS / FLAWMAP_SEGMENTER_MAX_ITERS (few-shot onboarding retrains after 10 labels
    # with a short fine-tuning schedule).
    min_new_labels = models.PositiveIntegerField(null=True, blank=True)
    max_iters = models.PositiveIntegerField(null=True, blank=True)
    # Fine-tunes add that many of the production model's own training images (rehearsal): onboarding's 10 labels
    # of one generator alone would trade precision elsewhere for the new artifacts.
    replay_images = models.PositiveIntegerField(null=True, blank=True)
    # The scope of the models it trains (backend.mlmodels.models.scope_check): onboarding a generator trains
    # its specialist (generator:<name>), which can never replace the unified model.
    scope = models.CharField(max_length=200, default="unified")

    def __str__(self) -> str:
        return f"retrain policy of {self.campaign}"
