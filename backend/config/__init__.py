# Load the Celery app when Django starts so @shared_task binds to it.
from backend.config.celery import app as celery_app

__all__ = ("celery_app",)
