"""The model registry's reactions to what the apps below it announce."""

from django.dispatch import receiver

from backend.images.signals import unlabelled_images_ingested
from backend.mlmodels.services import prelabel_enqueue, vlm_prelabel_enqueue


@receiver(unlabelled_images_ingested, dispatch_uid="mlmodels.prelabel_new_images")
def prelabel_new_images(sender, *, image_ids, **kwargs) -> None:
    """A pre-label job per production model: the segmenter's mask and PAR, the VLM's boxes, classes and captions."""
    prelabel_enqueue(image_ids=image_ids)
    vlm_prelabel_enqueue(image_ids=image_ids)
