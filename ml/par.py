"""Perceptual Artifacts Ratio (PAL4VST): artifact area / image area."""

import numpy as np


def perceptual_artifacts_ratio(mask: np.ndarray) -> float:
    """PAR of a binary mask (any non-zero pixel is an artifact). An empty image has PAR 0."""
    if mask.size == 0:
        return 0.0
    return float(np.count_nonzero(mask)) / float(mask.size)
