"""What the Label Studio gateway announces, for the learning loop above it to act on (it imports none of it)."""

from django.dispatch import Signal

# A human annotation from Label Studio was stored and committed (submitted, not skipped). Sent with `campaign`
# and `annotation`; a batch of the drain (annotator/services/intake_batch.py) sends it once per campaign, with
# its newest annotation. Receivers must not raise: the label is stored whatever they do.
human_annotation_stored = Signal()
