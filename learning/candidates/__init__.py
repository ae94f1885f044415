"""The per-kind parts of candidate training (see learning/training.py); importing registers them."""

from learning.candidates import segmenter, vlm  # noqa: F401
