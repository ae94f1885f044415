"""Pull what webhooks missed: every annotation changed since the watermark, plus deletions."""

from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from annotator.client import LabelStudioClient, ls_client
from annotator.models import Campaign, SyncedAnnotation, WebhookEvent
from annotator.services.intake import (
    CREATED,
    UPDATED,
    IntakeError,
    ls_annotation_apply,
    ls_annotation_delete,
    ls_users_link,
    parse_ls_time,
)
from annotator.services.provision import campaign_provision
from backend.core.cli import ProgressCallback
from backend.jobs.services import job_create

# Annotations saved within this window before the watermark are looked at again (clock ties, slow commits).
WATERMARK_SLACK = timedelta(minutes=5)


@dataclass
class ReconcileReport:
    applied: int = 0
    unchanged: int = 0
    failed: int = 0
    deleted: int = 0
    webhook_reenabled: bool = False

    def as_dict(self) -> dict:
        return self.__dict__.copy()


def _ensure_webhook(ls: LabelStudioClient, campaign: Campaign) -> bool:
    """Label Studio disables a webhook after repeated failures; switch it back on (or recreate it)."""
    hook = None
    if campaign.ls_webhook_id:
        hook = next((h for h in ls.webhooks(project_id=campaign.ls_project_id) if h.id == campaign.ls_webhook_id),
                    None)
    if hook is None:
        campaign_provision(campaign=campaign)
        return True
    if not hook.is_active:
        ls.webhook_update(webhook_id=hook.id, is_active=True)
        return True
    return False


def _record_failure(campaign: Campaign, task: dict, annotation: dict, error: str) -> None:
    exists = WebhookEvent.objects.filter(
        source=WebhookEvent.Source.RECONCILE, status=WebhookEvent.Status.FAILED,
        payload__annotation__id=annotation.get("id"), payload__annotation__updated_at=annotation.get("updated_at"),
    ).exists()
    if not exists:
        WebhookEvent.objects.create(
            source=WebhookEvent.Source.RECONCILE, action="RECONCILE", ls_project_id=campaign.ls_project_id,
            payload={"annotation": annotation, "task": task}, status=WebhookEvent.Status.FAILED, error=error,
            processed_at=timezone.now(),
        )


def campaign_reconcile(*, campaign: Campaign, on_progress: ProgressCallback | None = None) -> ReconcileReport:
    """`on_progress(tasks_read, None)` follows the project's tasks (their number is not known up front)."""
    if not campaign.ls_project_id:
        campaign_provision(campaign=campaign)
    ls = ls_client()
    report = ReconcileReport(webhook_reenabled=_ensure_webhook(ls, campaign))
    watermark = campaign.reconciled_until
    newest = watermark
    seen: set[int] = set()
    for done, task_obj in enumerate(ls.tasks(project_id=campaign.ls_project_id), start=1):
        if on_progress is not None:
            on_progress(done, None)
        task = {"id": task_obj.id, "data": task_obj.data}
        changed = []
        for annotation in task_obj.annotations:
            seen.add(annotation["id"])
            updated_at = parse_ls_time(annotation.get("updated_at") or annotation.get("created_at"))
            newest = max(newest, updated_at) if newest else updated_at
            if watermark is not None and updated_at < watermark - WATERMARK_SLACK:
                report.unchanged += 1
            else:
                changed.append(annotation)
        ls_users_link([a.get("completed_by") for a in changed])  # network, if any: outside the intake transaction
        for annotation in changed:
            try:
                outcome = ls_annotation_apply(campaign=campaign, task=task, annotation=annotation)
            except IntakeError as exc:
                _record_failure(campaign, task, annotation, exc.message)
                report.failed += 1
                continue
            if outcome in (CREATED, UPDATED):
                report.applied += 1
            else:
                report.unchanged += 1
    gone = SyncedAnnotation.objects.filter(campaign=campaign, deleted_at=None).exclude(ls_annotation_id__in=seen)
    for ls_id in gone.values_list("ls_annotation_id", flat=True):
        ls_annotation_delete(ls_annotation_id=ls_id)
        report.deleted += 1
    Campaign.objects.filter(pk=campaign.pk).update(reconciled_until=newest)
    campaign.reconciled_until = newest
    return report


def campaign_reconcile_enqueue(*, campaign: Campaign, created_by=None):
    """Queue a `labelstudio_reconcile` job (queue io); while one is queued or running, that one is returned."""
    job, _ = job_create(kind="labelstudio_reconcile", params={"campaign_id": campaign.pk}, subject=campaign,
                        created_by=created_by, dedupe_key=f"reconcile:campaign:{campaign.pk}")
    return job
