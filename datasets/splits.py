"""Split assignment that never moves an item and keeps shares on target.

Items are grouped by a group key (the image itself by default) and a group's split is inherited from
the parent version whenever the group was seen before. New groups are ordered by a hash of their key
and dealt out so that the *whole* version's split counts come as close to the target shares as the
inherited items allow. The result depends only on the items and the parent, never on row order or
database ids, so the same set gives the same splits on any instance.
"""

import hashlib
from collections.abc import Iterable, Mapping

SPLIT_ORDER = ("train", "val", "test")


def group_hash(value: str) -> str:
    return hashlib.sha256(f"flawmap-split-group:{value}".encode()).hexdigest()


def validate_shares(shares: Mapping[str, float]) -> dict[str, float]:
    if set(shares) - set(SPLIT_ORDER) or not shares:
        raise ValueError(f"splits must be some of {', '.join(SPLIT_ORDER)}, got {sorted(shares)}")
    if any(v < 0 for v in shares.values()) or abs(sum(shares.values()) - 1.0) > 1e-6:
        raise ValueError(f"split shares must be >= 0 and sum to 1, got {dict(shares)}")
    return {name: float(shares[name]) for name in SPLIT_ORDER if name in shares}


def assign_splits(
    groups: Mapping[str, int], *, shares: Mapping[str, float], inherited: Mapping[str, str]
) -> dict[str, str]:
    """groups: group hash → item count. inherited: group hash → split from the parent version.

    Returns group hash → split for every group.
    """
    shares = validate_shares(shares)
    result = {g: inherited[g] for g in groups if g in inherited}
    counts = {name: 0 for name in shares}
    for g, split in result.items():
        counts[split] = counts.get(split, 0) + groups[g]
    total = sum(groups.values())
    for g in sorted(set(groups) - set(result)):  # hash order: a fixed pseudo-random order
        # Give the group to the split furthest below its target once this group is counted.
        size = groups[g]
        split = max(shares, key=lambda s: (shares[s] * total - counts[s]) / size if size else 0)
        result[g] = split
        counts[split] += size
    return result


def split_report(rows: Iterable[tuple[str, str]]) -> dict[str, dict[str, int]]:
    """(stratum, split) pairs → {stratum: {split: count}} for the stratified report."""
    report: dict[str, dict[str, int]] = {}
    for stratum, split in rows:
        report.setdefault(stratum, {}).setdefault(split, 0)
        report[stratum][split] += 1
    return report
