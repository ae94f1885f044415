from pytest import approx

from ml.vlm.reward import artifact_penalty, reward


def test_reward_combines_par_and_weighted_findings_and_is_clipped():
    assert reward(0.0, []) == 1.0
    assert reward(0.5, ["a", "b", "c"], lam=0.1) == approx(0.2)
    assert reward(0.1, ["face"], lam=0.2, severity={"face": 2.0}) == approx(0.5)
    assert artifact_penalty(["face", "face", "blur"], severity={"face": 2.0}) == 5.0
    assert reward(1.0, ["x"] * 50, lam=1.0) == -1.0
