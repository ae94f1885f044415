"""The promotion gate (numpy only): may a candidate replace the production model of its scope?

Both models were scored image by image on the same benchmarks. The candidate is promoted only if
  (a) on its scope's benchmark the paired bootstrap 95 % interval of (candidate − production) lies above 0, and
  (b) no other benchmark, judged the same way, drops by more than `max_regression` (metric units: 0.01 = one
      IoU point).
A benchmark with fewer than `min_images` paired images cannot decide: too few to tell a better model from luck.
For (a) that leaves the candidate a candidate; for (b) such a benchmark is shown but not judged.

Items are per-image dicts keyed by "image". Segmenters: {"tp", "fp", "fn"} of the artifact class, metric "iou"
(ml/segmentation/bootstrap.py sums them). VLM classifiers: {"classes": {slug: [tp, fp, fn]}}, metric
"macro_f1" (ml/vlm/metrics.py's definition: the mean F1 of the classes with support), recomputed on every
resample of images.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ml.segmentation.bootstrap import BOOTSTRAP_RESAMPLES, COUNT_FIELDS, iou_stat, paired_bootstrap_ci, point_estimate

Items = Sequence[Mapping]


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str
    evidence: dict = field(default_factory=dict)
    undecided: bool = False  # not refused on the numbers: too few images to tell (stays a candidate)


def macro_f1_stat(sums: np.ndarray) -> np.ndarray:
    """Summed per-class counts (..., classes * 3) → mean F1 of the classes with support (tp + fn > 0)."""
    counts = sums.reshape(*sums.shape[:-1], -1, 3).astype(float)
    tp, fp, fn = counts[..., 0], counts[..., 1], counts[..., 2]
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 0.0)
    supported = (tp + fn) > 0
    n = supported.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, (f1 * supported).sum(axis=-1) / np.maximum(n, 1), np.nan)


def _matrix(items: Items, metric: str, classes: list[str]) -> np.ndarray:
    if metric == "iou":
        return np.array([[int(item[f]) for f in COUNT_FIELDS] for item in items], dtype=np.int64).reshape(-1, 3)
    rows = [[int(v) for c in classes for v in (item.get("classes") or {}).get(c, (0, 0, 0))] for item in items]
    return np.array(rows, dtype=np.int64).reshape(len(items), 3 * len(classes))


STATS = {"iou": iou_stat, "macro_f1": macro_f1_stat}


def _paired(candidate: Items, production: Items) -> tuple[list[Mapping], list[Mapping]]:
    """The items of images both models were scored on, in the same order."""
    theirs = {item["image"]: item for item in production}
    shared = sorted((item["image"] for item in candidate if item["image"] in theirs), key=str)
    ours = {item["image"]: item for item in candidate}
    return [ours[i] for i in shared], [theirs[i] for i in shared]


def compare(candidate: Items, production: Items, *, metric: str, n: int = BOOTSTRAP_RESAMPLES,
            seed: int = 0) -> dict:
    """Both models' metric on their shared images, the difference and its paired bootstrap 95 % interval."""
    a, b = _paired(candidate, production)
    classes = sorted({c for item in a + b for c in (item.get("classes") or {})}) if metric != "iou" else []
    ma, mb = _matrix(a, metric, classes), _matrix(b, metric, classes)
    stat = STATS[metric]
    if not len(a):
        return {"n_images": 0, "candidate": None, "production": None, "delta": None, "delta_ci": None}
    ca, cb = point_estimate(ma, stat), point_estimate(mb, stat)
    ci = paired_bootstrap_ci(ma, mb, stat, n=n, seed=seed)

    def r(v):
        return None if v is None else round(float(v), 6)

    return {"n_images": len(a), "candidate": r(ca), "production": r(cb),
            "delta": r(ca - cb) if ca is not None and cb is not None else None,
            "delta_ci": [r(ci[0]), r(ci[1])] if ci else None}


def promotion_decide(scope_benchmark: str, candidate_items_by_benchmark: Mapping[str, Items],
                     production_items_by_benchmark: Mapping[str, Items], *, min_images: int,
                     max_regression: float, metric: str = "iou", n: int = BOOTSTRAP_RESAMPLES,
                     seed: int = 0) -> Decision:
    """Decide by the rules in this module's docstring. `max_regression` is in metric units (0.01 = 1 point).
    The evidence holds every benchmark's numbers, so a refusal can be read without re-running anything."""
    if metric not in STATS:
        raise ValueError(f"metric must be one of {', '.join(STATS)}, not {metric!r}")
    benchmarks = {}
    for name in sorted(set(candidate_items_by_benchmark) & set(production_items_by_benchmark)):
        row = compare(candidate_items_by_benchmark[name], production_items_by_benchmark[name], metric=metric,
                      n=n, seed=seed)
        row["judged"] = row["n_images"] >= min_images and row["delta"] is not None
        benchmarks[name] = row
    evidence = {"metric": metric, "scope_benchmark": scope_benchmark, "min_images": min_images,
                "max_regression": max_regression, "resamples": n, "benchmarks": benchmarks}
    points = 100  # metric units → points, for the sentences people read

    own = benchmarks.get(scope_benchmark)
    if own is None or not own["judged"]:
        size = 0 if own is None else own["n_images"]
        return Decision(False, f"benchmark {scope_benchmark} has {size} image(s) scored for both models, fewer "
                               f"than {min_images} (FLAWMAP_BENCHMARK_MIN_IMAGES): too small to decide; the "
                               "candidate stays a candidate", evidence, undecided=True)
    low, high = own["delta_ci"] or (None, None)
    regressions = {name: row for name, row in benchmarks.items() if name != scope_benchmark and row["judged"]
                   and row["delta"] < -max_regression}
    for name, row in benchmarks.items():
        row["regressed"] = name in regressions
    summary = (f"on {scope_benchmark} {metric} {own['candidate']:.4f} vs production {own['production']:.4f}, "
               f"difference 95 % CI [{low:+.4f}, {high:+.4f}]" if low is not None else
               f"on {scope_benchmark} the difference is undefined")
    if low is None or low <= 0:
        return Decision(False, f"{summary}: not above 0, so not shown better", evidence)
    if regressions:
        worst = ", ".join(f"{name} {row['candidate']:.4f} vs {row['production']:.4f} "
                          f"({row['delta'] * points:+.2f} points)" for name, row in regressions.items())
        return Decision(False, f"{summary}, but it drops more than {max_regression * points:.2f} points on "
                               f"{worst}", evidence)
    return Decision(True, f"{summary}; no other benchmark drops more than {max_regression * points:.2f} points",
                    evidence)
