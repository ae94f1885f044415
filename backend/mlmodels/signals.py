"""What the model registry announces, for the layers above it to act on (it imports none of them)."""

from django.dispatch import Signal

# A pre-label job stored new predictions. Sent with `model_version` and `image_ids` (the images predicted now).
# A receiver returns a dict of what it did (e.g. the Label Studio gateway: tasks given the new prediction),
# merged into the job's result.
predictions_stored = Signal()

# A model version was registered (trained here, imported, or added with `model_register`); sent once its row is
# committed, with `model_version`. The benchmarks (datasets) score it on every benchmark it can see.
model_registered = Signal()
