"""Segmentation scores for the artifact segmenter, from per-image confusion counts.

IoU is accumulated over a whole split (sum of intersections / sum of unions), the way mmseg and PAL4VST
report it, not averaged per image. Pixels labelled 255 are ignored.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

IGNORE_INDEX = 255
CLASS_NAMES = ("clean", "artifact")


@dataclass
class Counts:
    """Intersection and union per class (0 clean, 1 artifact), plus pixel accuracy counts."""

    intersection: np.ndarray = field(default_factory=lambda: np.zeros(2, np.int64))
    union: np.ndarray = field(default_factory=lambda: np.zeros(2, np.int64))
    correct: int = 0
    valid: int = 0
    images: int = 0

    def add(self, other: "Counts") -> None:
        self.intersection += other.intersection
        self.union += other.union
        self.correct += other.correct
        self.valid += other.valid
        self.images += other.images


def image_counts(pred: np.ndarray, gt: np.ndarray) -> Counts:
    """Counts for one image; `pred` and `gt` are HxW label maps of the same shape (gt may hold 255)."""
    if pred.shape != gt.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from label shape {gt.shape}")
    valid = gt != IGNORE_INDEX
    p = pred[valid].astype(bool)
    g = gt[valid].astype(bool)
    inter_a = int(np.count_nonzero(p & g))
    union_a = int(np.count_nonzero(p | g))
    n = int(p.size)
    inter_c = int(np.count_nonzero(~p & ~g))
    union_c = int(np.count_nonzero(~p | ~g))
    return Counts(
        intersection=np.array([inter_c, inter_a], np.int64),
        union=np.array([union_c, union_a], np.int64),
        correct=inter_a + inter_c,
        valid=n,
        images=1,
    )


def artifact_confusion(pred: np.ndarray, gt: np.ndarray) -> dict[str, int]:
    """One image's artifact-class confusion counts {tp, fp, fn} (255 in `gt` ignored): what a benchmark keeps
    per image so scores and their bootstrap intervals (ml/segmentation/bootstrap.py) can be summed again."""
    if pred.shape != gt.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from label shape {gt.shape}")
    valid = gt != IGNORE_INDEX
    p = pred[valid].astype(bool)
    g = gt[valid].astype(bool)
    return {"tp": int(np.count_nonzero(p & g)), "fp": int(np.count_nonzero(p & ~g)),
            "fn": int(np.count_nonzero(~p & g))}


def _iou(counts: Counts) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts.union > 0, counts.intersection / np.maximum(counts.union, 1), np.nan)


def summarize(counts: Counts) -> dict[str, float | int | None]:
    """mIoU over both classes, artifact-class IoU, clean IoU and pixel accuracy (None where undefined)."""
    iou = _iou(counts)

    def clean(x: float) -> float | None:
        return None if np.isnan(x) else round(float(x), 6)

    return {
        "mIoU": clean(float(np.nanmean(iou))) if not np.all(np.isnan(iou)) else None,
        "artifact_IoU": clean(iou[1]),
        "clean_IoU": clean(iou[0]),
        "aAcc": clean(counts.correct / counts.valid) if counts.valid else None,
        "images": counts.images,
    }


class SplitScorer:
    """Accumulates counts over a split, overall, per task and per generator; `result()` is JSON-ready."""

    def __init__(self) -> None:
        self.total = Counts()
        self.by_task: dict[str, Counts] = defaultdict(Counts)
        self.by_generator: dict[str, Counts] = defaultdict(Counts)

    def add(self, pred: np.ndarray, gt: np.ndarray, task: str = "", generator: str = "") -> Counts:
        counts = image_counts(pred, gt)
        self.add_counts(counts, task, generator)
        return counts

    def add_counts(self, counts: Counts, task: str = "", generator: str = "") -> None:
        self.total.add(counts)
        if task:
            self.by_task[task].add(counts)
        if generator:
            self.by_generator[generator].add(counts)

    def result(self) -> dict:
        out = summarize(self.total)
        if self.by_task:
            out["tasks"] = {task: summarize(c) for task, c in sorted(self.by_task.items())}
        if self.by_generator:
            out["generators"] = {name: summarize(c) for name, c in sorted(self.by_generator.items())}
        return out
