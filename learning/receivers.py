"""The learning loop's reactions to what the layers below announce."""

from django.dispatch import receiver

from annotator.signals import human_annotation_stored
from learning.services.retrain import campaign_retrain_maybe


@receiver(human_annotation_stored, dispatch_uid="learning.retrain_check")
def retrain_check(sender, *, campaign, annotation, **kwargs) -> None:
    """Queue a retraining once the campaign has enough new human labels (read afresh: its policy may have
    changed since the annotation arrived)."""
    campaign_retrain_maybe(campaign=type(campaign).objects.get(pk=campaign.pk))
