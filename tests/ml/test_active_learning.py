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


def test_mix_takes_the_most_uncertain_of_every_cluster_not_of_the_hardest_one():
    rng = np.random.default_rng(0)
    centres = np.eye(3) * 10
    features = np.concatenate([c + rng.normal(0, 0.1, (20, 3)) for c in centres])  # 3 groups of 20
    entropy = rng.uniform(0.0, 0.2, 60)
    entropy[:20] += 0.5  # the model finds group 0 hardest: uncertainty alone takes only from it
    assert {i // 20 for i in by_uncertainty(entropy, 3)} == {0}
    picked = mix(entropy, features, 3, seed=1)
    assert sorted(i // 20 for i in picked) == [0, 1, 2]
    # each pick is its group's most uncertain member, and the batch comes most uncertain first
    assert set(picked) == {20 * g + int(np.argmax(entropy[20 * g:20 * g + 20])) for g in range(3)}
    assert list(entropy[picked]) == sorted(entropy[picked], reverse=True)


def test_mix_fills_the_batch_when_candidates_repeat_and_falls_back_to_uncertainty_without_features():
    entropy = np.array([0.1, 0.4, 0.3, 0.2])
    same = np.ones((4, 2))  # one distinct point: k-means finds fewer clusters than asked
    picked = mix(entropy, same, 3)
    assert len(picked) == len(set(picked)) == 3 and picked[0] == 1
    assert mix(entropy, None, 2) == [1, 2]
    assert mix(entropy, same, 9) == [1, 2, 3, 0]  # fewer candidates than k: all of them, most uncertain first


def test_select_rejects_unknown_strategies_and_missing_features():
    with pytest.raises(ValueError, match="unknown strategy"):
        select("best", k=1, entropy=[0.1])
    with pytest.raises(ValueError, match="feature vectors"):
        select("diversity", k=1, entropy=[0.1], features=None)
    assert sorted(select("random", k=3, n=3, seed=1)) == [0, 1, 2]
