"""The data browser (dashboard/browse/)."""

from backend.config.settings.env import env

# Make gallery thumbnails in a job after each ingest and each stored pass (off: each is made on its first view).
FLAWMAP_THUMBNAIL_JOBS = env.bool("FLAWMAP_THUMBNAIL_JOBS", default=True)
