"""Bootstrap intervals over images for summed-count scores (ml/segmentation/bootstrap.py)."""

import numpy as np
import pytest

from ml.segmentation.bootstrap import (
    bootstrap_ci,
    f1_stat,
    iou_stat,
    paired_bootstrap_ci,
    point_estimate,
    score_summary,
)

ITEMS = [{"tp": 10, "fp": 5, "fn": 5}, {"tp": 0, "fp": 10, "fn": 0}, {"tp": 30, "fp": 2, "fn": 8},
         {"tp": 4, "fp": 4, "fn": 12}]


def test_point_estimates_sum_counts_over_images():
    assert point_estimate(ITEMS, iou_stat) == pytest.approx(44 / (44 + 21 + 25))
    assert point_estimate(ITEMS, f1_stat) == pytest.approx(88 / (88 + 21 + 25))
    assert point_estimate([{"tp": 0, "fp": 0, "fn": 0}], iou_stat) is None  # nothing to find, nothing found
    assert point_estimate([], iou_stat) is None


def test_the_interval_holds_the_estimate_and_is_reproducible():
    low, high = bootstrap_ci(ITEMS, iou_stat)
    assert low < point_estimate(ITEMS, iou_stat) < high
    assert bootstrap_ci(ITEMS, iou_stat) == (low, high)  # seed 0 by default
    assert bootstrap_ci([ITEMS[0]] * 5, iou_stat) == pytest.approx((0.5, 0.5))  # identical images: no spread
    summary = score_summary(ITEMS)
    assert summary["n"] == 4 and summary["iou_ci"][0] <= summary["iou"] <= summary["iou_ci"][1]


def test_paired_interval_draws_the_same_images_for_both_models():
    assert paired_bootstrap_ci(ITEMS, ITEMS, iou_stat) == (0.0, 0.0)
    better = [{**item, "tp": item["tp"] + 2, "fn": max(0, item["fn"] - 2)} for item in ITEMS]
    low, high = paired_bootstrap_ci(better, ITEMS, iou_stat)
    assert 0 < low <= high  # better on every image: better in every resample
    with pytest.raises(ValueError, match="differ in number"):
        paired_bootstrap_ci(ITEMS, ITEMS[:2], iou_stat)
    assert paired_bootstrap_ci(np.zeros((0, 3)), np.zeros((0, 3)), iou_stat) is None
