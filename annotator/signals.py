"""What the Label Studio gateway announces, for the learning loop above it to act on (it imports none of it)."""

from django.dispatch import Signal

# A human annotation from Label Studio was stored and committed (submitted, not skipped). Sent with `campaign`
# and `annotation`. Receivers must not raise: the label is stored whatever they do.
human_annotation_stored = Signal()
