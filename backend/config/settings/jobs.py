"""Long-running jobs: heartbeat and the reaper that fails (and retries) jobs whose worker died."""

from backend.config.settings.env import env

# A running job's worker writes a heartbeat this often ...
FLAWMAP_JOB_HEARTBEAT_SECONDS = env.float("FLAWMAP_JOB_HEARTBEAT_SECONDS", default=10.0)
# ... and a job silent for longer than this is failed and, while attempts remain, retried.
FLAWMAP_JOB_HEARTBEAT_TIMEOUT_SECONDS = env.int("FLAWMAP_JOB_HEARTBEAT_TIMEOUT_SECONDS", default=120)
FLAWMAP_JOB_REAP_EVERY_SECONDS = env.int("FLAWMAP_JOB_REAP_EVERY_SECONDS", default=60)
# A job still queued this long after it was created (or last sent again) has its message sent again by the
# reaper: the broker was down when it was queued, or lost it. A duplicate is harmless (a job is claimed once).
FLAWMAP_JOB_REQUEUE_SECONDS = env.int("FLAWMAP_JOB_REQUEUE_SECONDS", default=300)
