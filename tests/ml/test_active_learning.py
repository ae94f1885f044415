import numpy as np
import pytest

from ml.active_learning import by_margin, by_par, by_uncertainty, k_center_greedy, mix, select


def test_score_orderings():
    assert by_uncertainty([0.1, 0.9, 0.5], 2) == [1, 2]
    assert by_margin([0.8, 0.1, 0.5], 2) == [1, 2]
    assert by_par([0.0, 0.3, 0.2], 3) == [1, 2, 0]


def test_k_center_greedy_covers_every_cluster_before_repeating_one():
    rng = np.random.default_rng(0)
    centres = np.eye(4) * 10
    features = np.concatenate([c + rng.normal(0, 0.1, (25, 4)) for c in centres])  # 4 tight clusters
    picked = k_center_greedy(features, 4, seed=3)
    assert sorted(i // 25 for i in picked) == [0, 1, 2, 3]
    # with cluster 0 already labelled, the first picks avoid it
    labelled = features[:3]
    picked = k_center_greedy(features, 3, labelled=labelled)
    assert all(i >= 25 for i in picked)


def test_mix_takes_diverse_picks_among_the_most_uncertain():
    entropy = np.array([0.9, 0.89, 0.88, 0.1, 0.05, 0.87])
    features = np.array([[1, 0], [1, 0.01], [0, 1], [1, 1], [0, 0.5], [1, 0.02]], float)
    picked = mix(entropy, features, 2, pool_factor=2)
    assert set(picked) <= {0, 1, 2, 5} and 2 in picked  # the one unlike the rest is taken


def test_select_rejects_unknown_strategies_and_missing_features():
    with pytest.raises(ValueError, match="unknown strategy"):
        select("best", k=1, entropy=[0.1])
    with pytest.raises(ValueError, match="feature vectors"):
        select("diversity", k=1, entropy=[0.1], features=None)
    assert sorted(select("random", k=3, n=3, seed=1)) == [0, 1, 2]
