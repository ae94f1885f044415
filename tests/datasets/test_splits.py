from collections import Counter

import pytest

from datasets.splits import assign_splits, group_hash

SHARES = {"train": 0.8, "val": 0.1, "test": 0.1}


def groups(start, stop):
    return {group_hash(f"image:{i}"): 1 for i in range(start, stop)}


def test_shares_are_on_target_and_old_items_never_move():
    first = assign_splits(groups(0, 1000), shares=SHARES, inherited={})
    both = assign_splits({**groups(0, 1000), **groups(1000, 2000)}, shares=SHARES, inherited=first)
    assert sum(first[g] != both[g] for g in first) == 0
    for assignment, n in ((first, 1000), (both, 2000)):
        counts = Counter(assignment.values())
        for split, share in SHARES.items():
            assert abs(counts[split] / n - share) <= 0.02


def test_same_items_give_same_splits_whatever_the_order():
    g = groups(0, 300)
    reordered = dict(reversed(list(g.items())))
    assert assign_splits(g, shares=SHARES, inherited={}) == assign_splits(reordered, shares=SHARES, inherited={})


def test_groups_share_a_split_and_sizes_count():
    sized = {group_hash(f"prompt:{i}"): 1 + i % 5 for i in range(400)}
    result = assign_splits(sized, shares=SHARES, inherited={})
    per_split = Counter()
    for g, split in result.items():
        per_split[split] += sized[g]
    total = sum(sized.values())
    assert abs(per_split["train"] / total - 0.8) <= 0.02


@pytest.mark.parametrize("bad", [{"train": 0.9}, {"train": 0.5, "val": 0.6}, {"train": 1.0, "holdout": 0.0}])
def test_bad_shares_are_refused(bad):
    with pytest.raises(ValueError):
        assign_splits(groups(0, 3), shares=bad, inherited={})
