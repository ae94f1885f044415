from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datasets.splits import assign_splits, global_split, group_hash, share_deviation

SHARES = {"train": 0.8, "val": 0.1, "test": 0.1}
SEED = "flawmap"


def groups(start, stop):
    return [group_hash(f"image:{i}") for i in range(start, stop)]


@settings(max_examples=200, derandomize=True, database=None, deadline=None)
@given(keys=st.lists(st.integers(0, 5000), min_size=1, max_size=60, unique=True), others=st.data())
def test_a_groups_split_depends_on_nothing_but_its_key_and_the_seed(keys, others):
    """Property: whatever other groups come along, and in whatever order, each group gets the same split."""
    alone = {g: global_split(g, shares=SHARES, seed=SEED) for g in (group_hash(f"image:{k}") for k in keys)}
    extra = others.draw(st.lists(st.integers(5001, 9000), max_size=60, unique=True))
    mixed = [group_hash(f"image:{k}") for k in extra] + list(alone)
    order = others.draw(st.permutations(mixed))
    together = assign_splits(order, shares=SHARES, seed=SEED)
    assert {g: together[g] for g in alone} == alone


def test_shares_are_near_target_and_the_seed_matters():
    assignment = assign_splits(groups(0, 10000), shares=SHARES, seed=SEED)
    deviation = share_deviation(Counter(assignment.values()), SHARES)
    # A hash, not a deal: each split's share is binomial; 3 standard deviations at n = 10 000 is 1.2 points
    # for train and 0.9 for val and test.
    assert abs(deviation["train"]) <= 0.012 and abs(deviation["val"]) <= 0.009 and abs(deviation["test"]) <= 0.009
    other_seed = assign_splits(groups(0, 10000), shares=SHARES, seed="another-instance")
    assert sum(assignment[g] != other_seed[g] for g in assignment) > 2000


def test_test_only_grows_with_the_test_share_and_train_never_meets_test():
    keys = groups(0, 5000)
    wider = {"train": 0.7, "val": 0.1, "test": 0.2}  # test share 20 % = the other's test + val
    a = assign_splits(keys, shares=SHARES, seed=SEED)
    b = assign_splits(keys, shares=wider, seed=SEED)
    assert all(b[g] == "test" for g in keys if a[g] == "test")
    assert all(a[g] == "train" for g in keys if b[g] == "train")
    assert sum({a[g], b[g]} == {"train", "test"} for g in keys) == 0
    # Past that bound the guarantee ends, as the module says: 30 % test reaches into the other's train.
    c = assign_splits(keys, shares={"train": 0.6, "val": 0.1, "test": 0.3}, seed=SEED)
    assert sum({a[g], c[g]} == {"train", "test"} for g in keys) > 0


def test_missing_and_empty_splits():
    two = assign_splits(groups(0, 2000), shares={"train": 0.9, "test": 0.1}, seed=SEED)
    assert set(two.values()) == {"train", "test"}
    everything = assign_splits(groups(0, 50), shares={"train": 1.0, "val": 0.0, "test": 0.0}, seed=SEED)
    assert set(everything.values()) == {"train"}
    # shares may sum to 1 - 1e-6: the top sliver goes to the last split with a share, never to nothing
    short = Counter(global_split(g, shares={"test": 0.1, "val": 0.1}, seed=SEED) for g in groups(0, 100))
    assert set(short) == {"test", "val"} and short["val"] > 50
    assert share_deviation({}, SHARES) == {}


@pytest.mark.parametrize("bad", [{"train": 0.9}, {"train": 0.5, "val": 0.6}, {"train": 1.0, "holdout": 0.0}])
def test_bad_shares_are_refused(bad):
    with pytest.raises(ValueError):
        assign_splits(groups(0, 3), shares=bad, seed=SEED)
