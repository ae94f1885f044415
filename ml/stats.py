"""Small statistics shared by the product and the benchmarks (numpy only)."""

import numpy as np

BOOTSTRAP_RESAMPLES = 2000
# Resamples drawn per numpy call: bounds memory to about CHUNK × n values whatever the number of resamples.
_CHUNK = 200


def median_difference_ci(a, b, *, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0,
                         level: float = 0.95) -> tuple[float, float] | None:
    """Percentile bootstrap interval of median(a) − median(b), each sample resampled on its own (two
    independent groups, e.g. the arms of a randomised comparison). None when either sample is empty."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if not a.size or not b.size:
        return None
    rng = np.random.default_rng(seed)
    diffs = []
    for start in range(0, resamples, _CHUNK):
        k = min(_CHUNK, resamples - start)
        diffs.append(np.median(a[rng.integers(0, a.size, (k, a.size))], axis=1)
                     - np.median(b[rng.integers(0, b.size, (k, b.size))], axis=1))
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(np.concatenate(diffs), [tail, 100 - tail])
    return float(low), float(high)
