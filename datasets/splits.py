"""Global splits: a group's split is a pure function of its group key and the instance's split seed.

The group key's hash and FLAWMAP_SPLIT_SEED give a number u in [0, 1); u is compared with the cumulative
target shares in the order test, val, train. Nothing else enters: not the other items, not row order, not the
dataset or version, not database ids. So two datasets with the same group key and shares give every image
they share the same split, on every instance with the same seed.

Test takes the lowest buckets (u < test) and train the highest (u >= test + val): an item in test under shares
A is in test under any shares B whose test share is at least A's. An item is train under A and test under B
only if test_A + val_A <= u < test_B, which needs test_B > test_A + val_A: two datasets whose test shares are
each at most the other's test + val share (any two with 10 % val and 10 % test, say) never put an item in
train in one and in test in the other.
"""

import hashlib
from collections.abc import Iterable, Mapping

SPLIT_ORDER = ("train", "val", "test")
BUCKET_ORDER = ("test", "val", "train")  # from u = 0 up: see the module docstring for why test comes first


def group_hash(value: str) -> str:
    return hashlib.sha256(f"flawmap-split-group:{value}".encode()).hexdigest()


def validate_shares(shares: Mapping[str, float]) -> dict[str, float]:
    if set(shares) - set(SPLIT_ORDER) or not shares:
        raise ValueError(f"splits must be some of {', '.join(SPLIT_ORDER)}, got {sorted(shares)}")
    if any(v < 0 for v in shares.values()) or abs(sum(shares.values()) - 1.0) > 1e-6:
        raise ValueError(f"split shares must be >= 0 and sum to 1, got {dict(shares)}")
    return {name: float(shares[name]) for name in SPLIT_ORDER if name in shares}


def bucket(group: str, *, seed: str) -> float:
    """The group's place in [0, 1): the first 64 bits of sha256(seed:group)."""
    return int(hashlib.sha256(f"{seed}:{group}".encode()).hexdigest()[:16], 16) / 2**64


def global_split(group: str, *, shares: Mapping[str, float], seed: str) -> str:
    """The split of a group (its hash from `group_hash`) under these shares and this seed."""
    u = bucket(group, seed=seed)
    edge, last = 0.0, ""
    for name in BUCKET_ORDER:
        share = shares.get(name, 0.0)
        if share <= 0:
            continue
        edge += share
        last = name
        if u < edge:
            return name
    return last  # shares may sum to 1 - 1e-6: the top sliver belongs to the last split with a share


def assign_splits(
    groups: Iterable[str], *, shares: Mapping[str, float], seed: str
) -> dict[str, str]:
    """Group hash → its global split, for every group."""
    shares = validate_shares(shares)
    return {g: global_split(g, shares=shares, seed=seed) for g in groups}


def share_deviation(counts: Mapping[str, int], shares: Mapping[str, float]) -> dict[str, float]:
    """Actual minus target share per split (e.g. 0.012 = 1.2 points over target); {} for an empty version."""
    total = sum(counts.values())
    if not total:
        return {}
    return {name: round(counts.get(name, 0) / total - share, 6) for name, share in shares.items()}


def split_report(counts: Mapping[tuple[str, str], int]) -> dict[str, dict[str, int]]:
    """{(stratum, split): count} → {stratum: {split: count}} for the stratified report."""
    report: dict[str, dict[str, int]] = {}
    for (stratum, split), count in counts.items():
        report.setdefault(stratum, {})[split] = count
    return report
