import os

from celery import Celery
from celery.signals import worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.config.settings")

app = Celery("flawmap")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

if not app.conf.broker_url:
    # No broker configured: tasks run in-process (eager). Celery still takes a producer from the broker pool for
    # each one, and without a URL that would be amqp://localhost (with a warning each time). Kombu's in-memory
    # transport keeps it off the network.
    app.conf.broker_url = "memory://localhost/"


@worker_init.connect
def _refuse_a_worker_without_a_broker(**kwargs) -> None:
    # The in-memory stand-in above is for in-process tasks only: a worker on it would start and receive nothing.
    if app.conf.broker_url.startswith("memory://"):
        # SystemExit, not an exception: Celery logs a signal handler's exception and starts anyway.
        raise SystemExit("CELERY_BROKER_URL is not set: a Celery worker needs a broker (e.g. redis://HOST:6379/0)")


@worker_init.connect
def _refuse_a_worker_with_known_secrets(**kwargs) -> None:
    # Workers run no system checks; a worker signs image links and records webhook deliveries.
    from backend.core.secrets import secrets_refuse_weak  # Django's settings are configured by now

    secrets_refuse_weak(process="the Celery worker")
