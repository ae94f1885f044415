"""The quality app's reactions to what the apps beside it announce."""

from django.dispatch import receiver

from backend.annotations.signals import image_labels_changed
from backend.quality.label_check import image_label_check_refresh


@receiver(image_labels_changed, dispatch_uid="quality.label_check_refresh")
def label_check_refresh(sender, *, image_ids, **kwargs) -> None:
    """The label-error finder's disagreement, uncertainty and representative pass follow every stored pass."""
    for image_id in image_ids:
        image_label_check_refresh(image_id=image_id)
