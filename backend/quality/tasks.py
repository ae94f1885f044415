from celery import shared_task

from backend.quality.label_check import image_label_checks_refresh


@shared_task(name="quality.label_checks_refresh")
def label_checks_refresh(image_ids: list[int]) -> int:
    """Refresh the label-error finder's row of each image (a batch of passes stored by the webhook drain)."""
    image_label_checks_refresh(image_ids=image_ids)
    return len(image_ids)
