"""Acquisition functions: which unlabelled images to send to humans next.

Every function takes per-candidate scores (from the current model's predictions) and returns candidate
indices in the order to label them. Label Studio's open-source edition cannot order work by model
uncertainty, so the order comes from here.
"""

from __future__ import annotations

import warnings

import numpy as np

STRATEGIES = ("uncertainty", "margin", "par", "diversity", "random", "mix")


def by_uncertainty(entropy: np.ndarray, k: int) -> list[int]:
    """Highest mean pixel entropy first."""
    return [int(i) for i in np.argsort(-np.asarray(entropy, float), kind="stable")[:k]]


def by_margin(margin: np.ndarray, k: int) -> list[int]:
    """Smallest mean class-probability margin first."""
    return [int(i) for i in np.argsort(np.asarray(margin, float), kind="stable")[:k]]


def by_par(par: np.ndarray, k: int) -> list[int]:
    """Largest predicted artifact ratio first (most artifact area to correct or confirm)."""
    return [int(i) for i in np.argsort(-np.asarray(par, float), kind="stable")[:k]]


def k_center_greedy(features: np.ndarray, k: int, *, labelled: np.ndarray | None = None, seed: int = 0) -> list[int]:
    """Core-set selection (Sener & Savarese): repeatedly take the candidate farthest from everything
    chosen or already labelled, so k picks cover the feature space. Features are L2-normalised."""
    x = np.asarray(features, np.float64)
    n = len(x)
    if n == 0 or k <= 0:
        return []
    x = x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-12)
    if labelled is not None and len(labelled):
        ref = np.asarray(labelled, np.float64)
        ref = ref / (np.linalg.norm(ref, axis=1, keepdims=True) + 1e-12)
        dist = np.min(((x[:, None, :] - ref[None, :, :]) ** 2).sum(-1), axis=1)
        chosen = []
    else:
        first = int(np.random.default_rng(seed).integers(n))
        chosen = [first]
        dist = ((x - x[first]) ** 2).sum(-1)
    while len(chosen) < min(k, n):
        dist[chosen] = -1.0
        nxt = int(np.argmax(dist))
        chosen.append(nxt)
        dist = np.minimum(dist, ((x - x[nxt]) ** 2).sum(-1))
    return chosen


def by_random(n: int, k: int, *, seed: int = 0) -> list[int]:
    return [int(i) for i in np.random.default_rng(seed).permutation(n)[:k]]


def mix(entropy: np.ndarray, features: np.ndarray | None, k: int, *, seed: int = 0) -> list[int]:
    """Uncertain *and* representative: k-means splits the candidates into k clusters on their features and
    each cluster gives its most uncertain member; the batch is ordered most uncertain first.

    Why not uncertainty alone: it piles a batch onto whatever the model finds hardest; on the synthetic pool
    (crops of 8 photos) most of its picks came from two photos (docs/experiments/active-learning.md).
    Why not k-center greedy among the most uncertain (this function's first form): k-center seeks the
    farthest points, i.e. outliers, and a pre-filter by uncertainty has already lost the coverage.
    k-means follows the pool's density, so big groups of similar images get more picks, as they would at
    random, but each pick is the one the model is least sure of (Zhdanov, "Diverse mini-batch active
    learning", 2019, without its pre-filter). Without features it is uncertainty."""
    entropy = np.asarray(entropy, float)
    n = len(entropy)
    if features is None or n <= k:
        return by_uncertainty(entropy, k)
    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning

    x = np.asarray(features, np.float64)
    x = x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-12)
    with warnings.catch_warnings():  # fewer distinct points than k: handled below
        warnings.simplefilter("ignore", ConvergenceWarning)
        clusters = KMeans(n_clusters=k, n_init=3, random_state=seed).fit_predict(x)
    picked = [int(members[np.argmax(entropy[members])]) for c in range(k)
              if len(members := np.flatnonzero(clusters == c))]
    # Identical feature vectors can leave clusters empty: fill the batch with the next most uncertain.
    chosen = set(picked)
    rest = [i for i in by_uncertainty(entropy, n) if i not in chosen]
    picked += rest[: k - len(picked)]
    return sorted(picked, key=lambda i: (-entropy[i], i))


def select(strategy: str, *, k: int, entropy=None, margin=None, par=None, features=None, labelled_features=None,
           n: int | None = None, seed: int = 0) -> list[int]:
    """Dispatch by name; raises ValueError for an unknown strategy or missing scores."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r} (one of {', '.join(STRATEGIES)})")
    if strategy == "random":
        return by_random(n if n is not None else len(entropy), k, seed=seed)
    if strategy == "uncertainty":
        return by_uncertainty(entropy, k)
    if strategy == "margin":
        return by_margin(margin, k)
    if strategy == "par":
        return by_par(par, k)
    if strategy == "diversity":
        if features is None or len(features) == 0 or len(np.asarray(features).shape) != 2:
            raise ValueError("diversity needs feature vectors (this model gives none)")
        return k_center_greedy(features, k, labelled=labelled_features, seed=seed)
    return mix(entropy, features, k, seed=seed)
