"""Scores of classifier answers against reference answers (both as template region dicts).

- Per class precision / recall / F1 at the image level, as SynArtifact scores classification: an image
  "has" a class when any of its regions has it; a prediction is right for that class when both have it.
- Exact-match accuracy: the predicted set of classes equals the reference set (a clean image must be
  answered `none`). A malformed answer is always wrong, even on a clean image: it said nothing.
- Box IoU of matched artifacts: per image and class, predicted and reference boxes are paired by maximum
  IoU (Hungarian); the mean IoU of pairs that overlap at all, and the share of reference boxes found with
  IoU ≥ 0.5.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from ml.vlm.template import code_key


def box_iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _matched_ious(pred: list[dict], ref: list[dict]) -> list[float]:
    ious = []
    for cls in {r["class"] for r in ref} & {p["class"] for p in pred}:
        p = [x["bbox"] for x in pred if x["class"] == cls]
        r = [x["bbox"] for x in ref if x["class"] == cls]
        m = np.array([[box_iou(a, b) for b in r] for a in p])
        rows, cols = linear_sum_assignment(-m)
        ious += [float(m[i, j]) for i, j in zip(rows, cols) if m[i, j] > 0]
    return ious


def image_class_counts(prediction: dict, reference: list[dict]) -> dict[str, list[int]]:
    """One image's {class: [tp, fp, fn]} (the counts `score` sums into per-class F1): what a paired bootstrap of
    macro F1 resamples (ml/promotion.py)."""
    p = set() if prediction["malformed"] else {r["class"] for r in prediction["regions"]}
    r = {x["class"] for x in reference}
    return {c: [int(c in p and c in r), int(c in p and c not in r), int(c in r and c not in p)]
            for c in sorted(p | r)}


def score(predictions: list[dict], references: list[list[dict]], classes) -> dict:
    """`predictions`: [{"regions": [...], "malformed": bool}], `references`: reference regions per image."""
    codes = {slug: code for code, slug, _n, _d in classes}
    names = {slug: name for _c, slug, name, _d in classes}
    tp, fp, fn = {}, {}, {}
    exact, ious, ref_boxes, found = 0, [], 0, 0
    for pred, ref in zip(predictions, references):
        p = set() if pred["malformed"] else {r["class"] for r in pred["regions"]}
        r = {x["class"] for x in ref}
        exact += int(not pred["malformed"] and p == r)
        for c in p & r:
            tp[c] = tp.get(c, 0) + 1
        for c in p - r:
            fp[c] = fp.get(c, 0) + 1
        for c in r - p:
            fn[c] = fn.get(c, 0) + 1
        pairs = [] if pred["malformed"] else _matched_ious(pred["regions"], ref)
        ious += pairs
        ref_boxes += len(ref)
        found += sum(iou >= 0.5 for iou in pairs)
    per_class = {}
    for c in sorted(set(tp) | set(fp) | set(fn), key=lambda s: code_key(codes.get(s, s))):
        t, f_p, f_n = tp.get(c, 0), fp.get(c, 0), fn.get(c, 0)
        precision = t / (t + f_p) if t + f_p else 0.0
        recall = t / (t + f_n) if t + f_n else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[c] = {"code": codes.get(c, ""), "name": names.get(c, c), "precision": precision, "recall": recall,
                        "f1": f1, "support": t + f_n}
    supported = [v["f1"] for v in per_class.values() if v["support"]]
    n = len(predictions)
    return {
        "images": n,
        "exact_match": exact / n if n else 0.0,
        "macro_f1": float(np.mean(supported)) if supported else 0.0,
        "malformed": sum(p["malformed"] for p in predictions) / n if n else 0.0,
        "box_iou_matched": float(np.mean(ious)) if ious else 0.0,
        "matched_boxes": len(ious),
        "box_recall_at_0.5": found / ref_boxes if ref_boxes else 0.0,
        "per_class": per_class,
    }
