import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.config.settings")

app = Celery("flawmap")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

if not app.conf.broker_url:
    # No broker configured: tasks run in-process (eager). Celery still takes a producer from the broker pool for
    # each one, and without a URL that would be amqp://localhost (with a warning each time). Kombu's in-memory
    # transport keeps it off the network.
    app.conf.broker_url = "memory://localhost/"
