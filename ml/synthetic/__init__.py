"""Real sample photos with synthetic perceptual artifacts and exact masks.

Used to seed demos and smoke-train models without shipping or downloading
any dataset: the photos come from scikit-image / scikit-learn wheels.
"""

from .artifacts import ARTIFACT_KINDS, apply_artifacts, make_artifact_sample, random_crop
from .dataset import SPLITS, generate_dataset
from .photos import SAMPLE_PHOTOS, load_photo, load_sample_photos

__all__ = [
    "ARTIFACT_KINDS",
    "SAMPLE_PHOTOS",
    "SPLITS",
    "apply_artifacts",
    "generate_dataset",
    "load_photo",
    "load_sample_photos",
    "make_artifact_sample",
    "random_crop",
]
