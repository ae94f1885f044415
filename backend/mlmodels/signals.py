"""What the model registry announces, for the layers above it to act on (it imports none of them)."""

from django.dispatch import Signal

# A pre-label job stored new predictions. Sent with `model_version` and `image_ids` (the images predicted now).
# A receiver returns a dict of what it did (e.g. the Label Studio gateway: tasks given the new prediction),
# merged into the job's result.
predictions_stored = Signal()
