"""Statistics for the generator leaderboard: mean PAR with a percentile-bootstrap 95 % confidence interval."""

from __future__ import annotations

import numpy as np

BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0
# Resampled values drawn per chunk, so memory stays bounded whatever the group size.
_CHUNK_VALUES = 4_000_000


def bootstrap_mean_ci(values, *, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED,
                      confidence: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean. A fixed seed makes the same data give the same interval."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        raise ValueError("no values")
    rng = np.random.default_rng(seed)
    per_chunk = max(1, _CHUNK_VALUES // values.size)
    means = []
    for start in range(0, resamples, per_chunk):
        count = min(per_chunk, resamples - start)
        means.append(values[rng.integers(0, values.size, (count, values.size))].mean(axis=1))
    tail = (1.0 - confidence) / 2 * 100
    low, high = np.percentile(np.concatenate(means), [tail, 100 - tail])
    return float(low), float(high)


def par_summary(values) -> dict:
    """images, mean PAR, its 95 % CI and the share of artifact-free (PAR == 0) images."""
    values = np.asarray(values, dtype=np.float64)
    low, high = bootstrap_mean_ci(values)
    return {
        "images": int(values.size), "mean_par": float(values.mean()), "ci95": [low, high],
        "artifact_free": int(np.count_nonzero(values == 0)),
        "artifact_free_share": float(np.count_nonzero(values == 0) / values.size),
    }
