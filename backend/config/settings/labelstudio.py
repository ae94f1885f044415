import hashlib
import hmac
from pathlib import Path

from backend.config.settings.base import DEBUG, FLAWMAP_PUBLIC_URL, SECRET_KEY
from backend.config.settings.env import VAR_DIR, dev_secret, env, read_env_file

# `make labelstudio` (scripts/labelstudio.py) writes labelstudio.env in the var folder for a local server; the
# environment wins over it.
_env_file = Path(env.str("FLAWMAP_LABELSTUDIO_ENV_FILE", default="") or VAR_DIR / "labelstudio.env")
_local = read_env_file(_env_file) if _env_file.is_file() else {}
LABEL_STUDIO_URL = (env.str("LABEL_STUDIO_URL", default="") or _local.get("LABEL_STUDIO_URL", "")).rstrip("/")
LABEL_STUDIO_API_KEY = env.str("LABEL_STUDIO_API_KEY", default="") or _local.get("LABEL_STUDIO_API_KEY", "")
# Shared secret Label Studio sends in a header with every webhook: its own value (a leaked SECRET_KEY must not
# give it away too). Only with DEBUG on may it be left out; it is then derived from SECRET_KEY, so every process
# of one machine agrees on it. With DEBUG off an empty one stops every process (backend/core/secrets.py).
LABEL_STUDIO_WEBHOOK_SECRET = dev_secret("LABEL_STUDIO_WEBHOOK_SECRET") or (hmac.new(
    SECRET_KEY.encode(), b"flawmap-labelstudio-webhook", hashlib.sha256
).hexdigest() if DEBUG else "")
LABEL_STUDIO_WEBHOOK_HEADER = "X-Flawmap-Webhook-Secret"
# Where Label Studio posts webhooks (must be reachable from the Label Studio server).
LABEL_STUDIO_WEBHOOK_URL = env.str("LABEL_STUDIO_WEBHOOK_URL", default="") or (
    f"{FLAWMAP_PUBLIC_URL.rstrip('/')}/api/labelstudio/webhook/"
)
# Tasks per import request; Label Studio handles a few hundred comfortably per call.
LABEL_STUDIO_IMPORT_BATCH_SIZE = env.int("LABEL_STUDIO_IMPORT_BATCH_SIZE", default=100)
LABEL_STUDIO_TIMEOUT = env.float("LABEL_STUDIO_TIMEOUT", default=30.0)
# How often the beat schedule runs the reconcile job (seconds).
LABEL_STUDIO_RECONCILE_SECONDS = env.int("LABEL_STUDIO_RECONCILE_SECONDS", default=300)
# Lifetime of the signed image links handed to Label Studio (seconds): a leaked link opens its image for a day.
# Push signs fresh links and reconcile re-signs those past half this age (annotator/services/links.py).
FLAWMAP_SIGNED_URL_MAX_AGE = env.int("FLAWMAP_SIGNED_URL_MAX_AGE", default=24 * 3600)
# The fast webhook ingress (annotator/webhook_ingress.py) queues deliveries on this Redis stream and
# `manage.py webhook_drain` records them. Defaults to the Celery broker when that is Redis.
_broker = env.str("CELERY_BROKER_URL", default="")
FLAWMAP_WEBHOOK_STREAM_URL = env.str("FLAWMAP_WEBHOOK_STREAM_URL", default="") or (
    _broker if _broker.startswith(("redis://", "rediss://", "unix://")) else "")
FLAWMAP_WEBHOOK_STREAM = env.str("FLAWMAP_WEBHOOK_STREAM", default="flawmap:labelstudio-webhooks")
# Label Studio payloads carry the task and the project; brush masks make them large, not this large.
FLAWMAP_WEBHOOK_MAX_BYTES = env.int("FLAWMAP_WEBHOOK_MAX_BYTES", default=16 * 1024 * 1024)
# The ingress trims the stream to about this many entries (XADD MAXLEN ~): a stalled drain must not fill Redis's
# memory (at most MAXLEN x MAX_BYTES). What is trimmed unrecorded is fetched again by the reconcile job.
FLAWMAP_WEBHOOK_STREAM_MAXLEN = env.int("FLAWMAP_WEBHOOK_STREAM_MAXLEN", default=100_000)
# The drain records a burst once it has been quiet this long, or once the oldest delivery waited the bound:
# recording and converting would otherwise take CPU from the acks (Label Studio gives up after 1 s).
FLAWMAP_WEBHOOK_DRAIN_QUIET_MS = env.int("FLAWMAP_WEBHOOK_DRAIN_QUIET_MS", default=200)
FLAWMAP_WEBHOOK_DRAIN_MAX_DEFER_MS = env.int("FLAWMAP_WEBHOOK_DRAIN_MAX_DEFER_MS", default=5000)
