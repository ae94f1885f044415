"""ml.stats: the percentile bootstrap shared by the leaderboard, labelling time and the benchmarks (no Django)."""

import numpy as np
import pytest

from ml import stats
from ml.stats import bootstrap_ci, chunk_sizes, median_difference_ci, normal_mean_ci, percentile_interval


def par_like(rng, n: int) -> np.ndarray:
    """PAR-like data: 30 % artifact-free images (PAR 0), the rest a skewed Beta(2, 18); mean 0.7 · 0.1."""
    return rng.beta(2, 18, n) * (rng.random(n) < 0.7)


def test_bootstrap_ci_covers_the_true_mean_about_95_percent_of_the_time():
    true_mean = 0.7 * 2 / (2 + 18)
    covered = 0
    trials = 200
    for seed in range(trials):
        values = par_like(np.random.default_rng(1000 + seed), 80)
        low, high = bootstrap_ci(values, resamples=1000, seed=seed)
        assert low <= values.mean() <= high
        covered += low <= true_mean <= high
    # Percentile bootstrap undercovers a little at n=80 with skewed data; it must still be close to 95 %.
    assert 0.88 <= covered / trials <= 0.99


def test_bootstrap_ci_is_reproducible_and_degenerates_sensibly():
    values = np.random.default_rng(0).random(50)
    assert bootstrap_ci(values) == bootstrap_ci(values)
    assert bootstrap_ci([0.3]) == (0.3, 0.3)
    assert bootstrap_ci(np.zeros(10)) == (0.0, 0.0)
    assert bootstrap_ci([]) is None
    low, high = bootstrap_ci(values, np.median)
    assert low <= np.median(values) <= high


def test_chunks_bound_the_values_per_draw_and_do_not_change_the_interval(monkeypatch):
    assert list(chunk_sizes(10, stats.CHUNK_VALUES)) == [1] * 10
    assert list(chunk_sizes(2000, stats.CHUNK_VALUES // 300)) == [300] * 6 + [200]
    assert list(chunk_sizes(5, 10 * stats.CHUNK_VALUES)) == [1] * 5  # never fewer than one resample per call
    big = np.random.default_rng(1).random(30_000)
    whole = bootstrap_ci(big, resamples=400)
    monkeypatch.setattr(stats, "CHUNK_VALUES", 7 * big.size)  # 7 resamples per call: the same draws
    assert bootstrap_ci(big, resamples=400) == whole
    low, high = whole
    assert low < big.mean() < high and high - low < 0.01


def test_percentile_interval_leaves_out_undefined_estimates():
    assert percentile_interval(np.array([np.nan, 1.0, 1.0])) == (1.0, 1.0)
    assert percentile_interval(np.array([np.nan])) is None
    assert percentile_interval(np.arange(101.0), level=0.9) == pytest.approx((5.0, 95.0))


def test_median_difference_ci_holds_the_difference():
    rng = np.random.default_rng(3)
    a, b = rng.exponential(60, 300) + 20, rng.exponential(60, 300)
    low, high = median_difference_ci(a, b)
    assert low < np.median(a) - np.median(b) < high
    assert median_difference_ci(a, []) is None


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_normal_interval_agrees_with_the_bootstrap_on_a_few_thousand_skewed_values(seed):
    values = par_like(np.random.default_rng(seed), 5001)
    boot = bootstrap_ci(values)
    normal = normal_mean_ci(mean=values.mean(), sd=values.std(ddof=1), n=values.size)
    width = normal[1] - normal[0]
    # what is left is mostly the bootstrap's own Monte Carlo noise (2000 resamples: ~1.5 % of the width)
    assert abs(boot[0] - normal[0]) < 0.05 * width and abs(boot[1] - normal[1]) < 0.05 * width
    assert normal_mean_ci(mean=0.2, sd=None, n=1) == (0.2, 0.2)
