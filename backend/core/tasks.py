from celery import shared_task
from django.db import connection

from backend.core.models import Blob


@shared_task(name="core.health")
def health() -> dict:
    """Round trip through broker, worker and database; used by ops checks and the worker test."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"database": connection.vendor, "blobs": Blob.objects.count()}
