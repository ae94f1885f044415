"""Confidence intervals for split-level segmentation scores, by resampling images (numpy only).

A benchmark score is a ratio of counts summed over images (artifact IoU = Σtp / Σ(tp+fp+fn), the way
ml/segmentation/metrics.py accumulates it), so an interval resamples whole images with replacement and sums
again: pixels of one image are not independent, images are. Each item is one image's confusion counts
(`tp`, `fp`, `fn` of the artifact class). `paired_bootstrap_ci` draws the same images for two models, for the
difference between them on one test set (candidate − production).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from ml.stats import LEVEL, chunk_sizes, percentile_interval

COUNT_FIELDS = ("tp", "fp", "fn")
BOOTSTRAP_RESAMPLES = 1000

Items = Sequence[Mapping[str, int]] | np.ndarray
# Summed counts (..., 3) in COUNT_FIELDS order → the statistic (...,); NaN where it is undefined.
Stat = Callable[[np.ndarray], np.ndarray]


def counts_matrix(items: Items) -> np.ndarray:
    """(images, 3) int64 counts in COUNT_FIELDS order, from per-image dicts or an array already in that shape."""
    if isinstance(items, np.ndarray):
        matrix = items.astype(np.int64, copy=False)
        if matrix.ndim == 2:  # (images, k): k counts per image, e.g. per-class counts for a macro F1 (ml/promotion)
            return matrix
    else:
        matrix = np.array([[int(item[f]) for f in COUNT_FIELDS] for item in items], dtype=np.int64)
    return matrix.reshape(-1, len(COUNT_FIELDS))


def iou_stat(sums: np.ndarray) -> np.ndarray:
    """Artifact IoU = tp / (tp + fp + fn); NaN when neither labels nor predictions hold an artifact pixel."""
    tp, fp, fn = (sums[..., i].astype(float) for i in range(3))
    union = tp + fp + fn
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, tp / np.maximum(union, 1), np.nan)


def f1_stat(sums: np.ndarray) -> np.ndarray:
    """Pixel F1 (Dice) of the artifact class = 2tp / (2tp + fp + fn); NaN where there is nothing to find."""
    tp, fp, fn = (sums[..., i].astype(float) for i in range(3))
    denominator = 2 * tp + fp + fn
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), np.nan)


def point_estimate(items: Items, stat: Stat) -> float | None:
    """The statistic on all images (None when undefined)."""
    matrix = counts_matrix(items)
    if not len(matrix):
        return None
    value = float(stat(matrix.sum(axis=0)))
    return None if np.isnan(value) else value


def _resampled(matrices: Sequence[np.ndarray], stat: Stat, combine, *, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    size = len(matrices[0])
    out = []
    for k in chunk_sizes(n, sum(m.size for m in matrices)):  # a resample gathers every count of every matrix
        index = rng.integers(0, size, (k, size))  # the same images for every matrix
        out.append(combine(*(stat(m[index].sum(axis=1)) for m in matrices)))
    return np.concatenate(out)


def bootstrap_ci(items: Items, stat: Stat, *, n: int = BOOTSTRAP_RESAMPLES, seed: int = 0,
                 level: float = LEVEL) -> tuple[float, float] | None:
    """Percentile bootstrap interval of `stat` over images; None without images or where it is never defined."""
    matrix = counts_matrix(items)
    if not len(matrix):
        return None
    return percentile_interval(_resampled([matrix], stat, lambda v: v, n=n, seed=seed), level)


def paired_bootstrap_ci(items_a: Items, items_b: Items, stat: Stat, *, n: int = BOOTSTRAP_RESAMPLES,
                        seed: int = 0, level: float = LEVEL) -> tuple[float, float] | None:
    """Percentile bootstrap interval of stat(a) − stat(b), where item i of a and of b are the same image (two
    models scored on one test set); each resample draws the same images for both."""
    a, b = counts_matrix(items_a), counts_matrix(items_b)
    if len(a) != len(b):
        raise ValueError(f"paired items differ in number: {len(a)} and {len(b)}")
    if not len(a):
        return None
    return percentile_interval(_resampled([a, b], stat, lambda x, y: x - y, n=n, seed=seed), level)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def score_summary(items: Items, *, n: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> dict:
    """{"iou", "iou_ci", "f1", "f1_ci", "n"}: artifact IoU and pixel F1 with their 95 % intervals, JSON-ready."""
    matrix = counts_matrix(items)
    out: dict = {"n": int(len(matrix))}
    for name, stat in (("iou", iou_stat), ("f1", f1_stat)):
        ci = bootstrap_ci(matrix, stat, n=n, seed=seed)
        out[name] = _rounded(point_estimate(matrix, stat))
        out[f"{name}_ci"] = [_rounded(ci[0]), _rounded(ci[1])] if ci else None
    return out
