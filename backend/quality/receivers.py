"""The quality app's reactions to what the apps beside it announce."""

from django.dispatch import receiver

from backend.annotations.signals import image_labels_changed
from backend.quality.label_check import image_label_check_refresh
from backend.quality.tasks import label_checks_refresh


@receiver(image_labels_changed, dispatch_uid="quality.label_check_refresh")
def label_check_refresh(sender, *, image_ids, **kwargs) -> None:
    """The label-error finder's disagreement, uncertainty and representative pass follow every stored pass.

    One pass (a form, the API) is refreshed at once, so the page a user returns to shows it. A batch (the webhook
    drain stores hundreds at a time) goes to an io worker: its mask decodes (one per image with a human and a
    segmenter pass) would hold the intake to the refresh's pace, and the finder may lag a batch by seconds."""
    image_ids = list(image_ids)
    if len(image_ids) == 1:
        image_label_check_refresh(image_id=image_ids[0])
    elif image_ids:
        label_checks_refresh.delay(image_ids)
