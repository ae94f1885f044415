"""Small statistics shared by the product and the benchmarks (numpy only): percentile bootstrap intervals and
the normal approximation that replaces them where a sample is too large to resample cheaply."""

from collections.abc import Callable, Iterator
from statistics import NormalDist

import numpy as np

BOOTSTRAP_RESAMPLES = 2000
LEVEL = 0.95
# Values drawn per numpy call (32 MB of float64): memory stays bounded whatever the sample size and resamples.
CHUNK_VALUES = 4_000_000

# A numpy reduction that takes axis= (np.mean, np.median, ...): applied to each resample, one row per resample.
Reduction = Callable[..., np.ndarray]


def chunk_sizes(resamples: int, values_per_resample: int) -> Iterator[int]:
    """How many resamples to draw per numpy call, so that one call holds at most CHUNK_VALUES values (but at
    least one resample). Splitting the draws does not change them: the generator's stream is the same."""
    per_chunk = max(1, CHUNK_VALUES // max(1, values_per_resample))
    for start in range(0, resamples, per_chunk):
        yield min(per_chunk, resamples - start)


def percentile_interval(estimates: np.ndarray, level: float = LEVEL) -> tuple[float, float] | None:
    """The central `level` share of the resampled estimates; NaNs (a statistic undefined on a resample) are
    left out. None when none is left."""
    estimates = np.asarray(estimates, dtype=float)
    estimates = estimates[~np.isnan(estimates)]
    if not estimates.size:
        return None
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(estimates, [tail, 100 - tail])
    return float(low), float(high)


def bootstrap_ci(values, stat: Reduction = np.mean, *, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0,
                 level: float = LEVEL) -> tuple[float, float] | None:
    """Percentile bootstrap interval of stat(values) over one sample (values resampled with replacement).
    A fixed seed makes the same data give the same interval. None when there are no values."""
    values = np.asarray(values, dtype=float)
    if not values.size:
        return None
    rng = np.random.default_rng(seed)
    estimates = [stat(values[rng.integers(0, values.size, (k, values.size))], axis=1)
                 for k in chunk_sizes(resamples, values.size)]
    return percentile_interval(np.concatenate(estimates), level)


def median_difference_ci(a, b, *, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0,
                         level: float = LEVEL) -> tuple[float, float] | None:
    """Percentile bootstrap interval of median(a) − median(b), each sample resampled on its own (two
    independent groups, e.g. the arms of a randomised comparison). None when either sample is empty."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if not a.size or not b.size:
        return None
    rng = np.random.default_rng(seed)
    diffs = [np.median(a[rng.integers(0, a.size, (k, a.size))], axis=1)
             - np.median(b[rng.integers(0, b.size, (k, b.size))], axis=1)
             for k in chunk_sizes(resamples, a.size + b.size)]
    return percentile_interval(np.concatenate(diffs), level)


def normal_mean_ci(*, mean: float, sd: float, n: int, level: float = LEVEL) -> tuple[float, float]:
    """mean ± z · sd / √n, sd the sample standard deviation (n − 1). For a mean over thousands of values the
    central limit theorem makes this agree with the percentile bootstrap (tested on skewed PAR-like data), at
    no resampling cost and from SQL aggregates alone."""
    if n < 2:
        return float(mean), float(mean)
    half = NormalDist().inv_cdf(0.5 + level / 2) * float(sd) / float(n) ** 0.5
    return float(mean) - half, float(mean) + half
