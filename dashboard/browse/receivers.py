"""The browser's reactions to what the layers below announce: thumbnails follow new images and new passes."""

from __future__ import annotations

from django.conf import settings
from django.dispatch import receiver

from backend.annotations.signals import image_labels_changed
from backend.images.signals import unlabelled_images_ingested
from backend.jobs.services import job_create


def thumbnails_enqueue(*, image_ids) -> None:
    """A `browse_thumbnails` job for these images, unless FLAWMAP_THUMBNAIL_JOBS is off (the gallery then makes
    each thumbnail on its first view)."""
    image_ids = sorted(set(image_ids))
    if image_ids and settings.FLAWMAP_THUMBNAIL_JOBS:
        job_create(kind="browse_thumbnails", params={"image_ids": image_ids})


@receiver(unlabelled_images_ingested, dispatch_uid="browse.thumbnails_after_ingest")
def thumbnails_after_ingest(sender, *, image_ids, **kwargs) -> None:
    thumbnails_enqueue(image_ids=image_ids)


@receiver(image_labels_changed, dispatch_uid="browse.thumbnails_after_pass")
def thumbnails_after_pass(sender, *, image_ids, **kwargs) -> None:
    thumbnails_enqueue(image_ids=image_ids)
