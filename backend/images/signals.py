"""What the images app announces, for the apps above it to act on (it imports none of them)."""

from django.dispatch import Signal

# New images without a human label were ingested (and committed). Sent with `image_ids`.
unlabelled_images_ingested = Signal()
