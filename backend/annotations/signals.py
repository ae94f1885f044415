"""What the annotations app announces, for the apps beside and above it to act on (it imports none of them)."""

from __future__ import annotations

import logging

from django.db import transaction
from django.dispatch import Signal

logger = logging.getLogger(__name__)

# An image's current passes changed (a pass stored, replaced or deleted) and its label summary was refreshed; sent
# once the change is committed, with `image_ids`. Receivers keep what they derive from the passes up to date (the
# browser's disagreement and thumbnails); they must not raise: the pass is stored whatever they do.
image_labels_changed = Signal()


def image_labels_changed_announce(*, image_ids) -> None:
    """Send `image_labels_changed` after the current transaction commits (at once outside one)."""
    image_ids = list(image_ids)

    def send() -> None:
        for receiver, outcome in image_labels_changed.send_robust(sender=None, image_ids=image_ids):
            if isinstance(outcome, Exception):
                logger.error("image_labels_changed receiver %s failed for %d image(s): %r", receiver,
                             len(image_ids), outcome, exc_info=outcome)

    transaction.on_commit(send)
