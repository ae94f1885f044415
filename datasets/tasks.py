"""Periodic dataset upkeep (Celery beat). Builds and exports run as Jobs: datasets/jobs.py."""

from celery import shared_task

from datasets.services import dataset_versions_abandoned_delete


@shared_task(name="datasets.cleanup_abandoned_versions")
def cleanup_abandoned_versions() -> int:
    return dataset_versions_abandoned_delete()
