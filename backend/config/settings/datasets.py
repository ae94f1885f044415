"""Dataset versions: how items are split."""

from backend.config.settings.env import env

# A group's split is a hash of this seed and its group key, the same in every dataset and version on this
# instance. Changing it changes the split of every item added from then on (frozen items keep theirs).
FLAWMAP_SPLIT_SEED = env.str("FLAWMAP_SPLIT_SEED", default="") or "flawmap"
