"""The Label Studio gateway's reactions to what the layers below announce."""

from django.dispatch import receiver

from annotator.selectors import campaigns_by_image
from annotator.services.push import campaigns_push_predictions
from backend.analytics.labeling_time import register_campaign_lookup
from backend.mlmodels.signals import predictions_stored

# Labelling time grouped by campaign: the statistics (below this app) ask which campaigns an image was in.
register_campaign_lookup(campaigns_by_image)


@receiver(predictions_stored, dispatch_uid="annotator.push_predictions")
def push_predictions(sender, *, model_version, image_ids, **kwargs) -> dict:
    """Give the Label Studio tasks these images already have the new pre-label."""
    return {"pushed_to_labelstudio": campaigns_push_predictions(image_ids=image_ids)}
