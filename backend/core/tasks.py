from celery import shared_task
from django.db import connection

from backend.images.models import GeneratedImage


@shared_task(name="core.health")
def health() -> dict:
    """Round trip through broker, worker and database; used by ops checks and the worker test."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"database": connection.vendor, "images": GeneratedImage.objects.count()}
