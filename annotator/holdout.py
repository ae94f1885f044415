"""Which pushed tasks get no pre-label: the randomised holdout behind the causal measure of time saved.

Pure (no Django) so that bench/time_saved.py assigns its simulated tasks by the very same rule.
"""

import hashlib


def prelabel_held_out(*, image_key: str, salt: str, share: float) -> bool:
    """Whether the image's task is pushed without a prediction. Decided by a hash of the image (its sha256) and
    the campaign (the salt), not by anyone's choice: nothing about the image or its labeller can steer it, the
    same image is always decided the same way in a campaign, and each campaign draws its own holdout."""
    if share <= 0.0:
        return False
    digest = hashlib.sha256(f"{salt}:{image_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0 ** 64 < share


def campaign_holdout_salt(campaign_id: int) -> str:
    return f"flawmap-campaign-{campaign_id}"
