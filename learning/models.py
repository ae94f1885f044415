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
