"""Per-image scores an active-learning round ranks by, computed from a probability map."""

from __future__ import annotations

import numpy as np

_EPS = 1e-6


def mean_entropy(prob: np.ndarray) -> float:
    """Mean binary entropy (bits) over pixels: 1.0 where the model is at 50/50 everywhere, 0 when sure."""
    p = np.clip(prob.astype(np.float64), _EPS, 1 - _EPS)
    return float(np.mean(-(p * np.log2(p) + (1 - p) * np.log2(1 - p))))


def mean_margin(prob: np.ndarray) -> float:
    """Mean gap between the two class probabilities, |2p - 1|: small = unsure (acquire smallest first)."""
    return float(np.mean(np.abs(2.0 * prob.astype(np.float64) - 1.0)))
