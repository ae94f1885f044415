"""Thin Celery jobs for datasets: ids in, one service call each, idempotent through status guards."""

from pathlib import Path

from celery import shared_task

from datasets.export_run import export_run
from datasets.models import DatasetVersion, Export
from datasets.services import dataset_version_build, dataset_versions_abandoned_delete


@shared_task(name="datasets.build_version")
def build_version(version_id: int) -> int | None:
    version = DatasetVersion.objects.filter(pk=version_id).first()
    if version is None:
        return None  # a failed earlier run already removed it
    return dataset_version_build(version=version).pk


@shared_task(name="datasets.run_export")
def run_export(export_id: int, out: str) -> str:
    export = Export.objects.get(pk=export_id)
    if export.status != Export.Status.RUNNING:
        return export.status
    return export_run(export=export, out=Path(out)).status


@shared_task(name="datasets.cleanup_abandoned_versions")
def cleanup_abandoned_versions() -> int:
    return dataset_versions_abandoned_delete()
