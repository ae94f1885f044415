from backend.config.settings.env import env

# No broker configured = the embedded default: tasks run in-process, synchronously.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or None
CELERY_TASK_ALWAYS_EAGER = CELERY_BROKER_URL is None
CELERY_TASK_EAGER_PROPAGATES = True
# Results (job return values) live next to the queue unless told otherwise.
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="") or CELERY_BROKER_URL
CELERY_RESULT_EXPIRES = 24 * 3600
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Must exceed the longest job, or Redis re-delivers a task that is still running.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=6 * 3600),
    # A request that queues a job waits at most about (1 + max_retries) x this when the broker is unreachable,
    # then answers 503 (the job stays queued); Redis's own default is the OS's, minutes for a silent host.
    "socket_connect_timeout": env.float("CELERY_BROKER_CONNECT_TIMEOUT", default=2.0),
}
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}
CELERY_TIMEZONE = "UTC"

# Periodic jobs (run by `celery beat`).
CELERY_BEAT_SCHEDULE = {
    "jobs-reap-stale": {"task": "jobs.reap_stale", "schedule": env.int("FLAWMAP_JOB_REAP_EVERY_SECONDS", default=60)},
    "jobs-requeue-unsent": {
        "task": "jobs.requeue_unsent", "schedule": env.int("FLAWMAP_JOB_REAP_EVERY_SECONDS", default=60),
    },
    "datasets-cleanup-abandoned-versions": {"task": "datasets.cleanup_abandoned_versions", "schedule": 3600},
    "labelstudio-reconcile": {
        "task": "annotator.reconcile_all",
        "schedule": env.int("LABEL_STUDIO_RECONCILE_SECONDS", default=300),
    },
}

# Queues by workload: `io` talks to Label Studio and builds exports, `gpu` trains and predicts.
CELERY_TASK_ROUTES = {
    "annotator.*": {"queue": "io"},
    "datasets.*": {"queue": "io"},
    "quality.*": {"queue": "io"},
}
