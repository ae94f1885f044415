"""Pull what webhooks missed: every annotation changed since the watermark, plus deletions."""

import logging
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
from annotator.services.links import ls_task_image_link_refresh
from annotator.services.provision import campaign_provision
from annotator.webhook_payload import WebhookPayloadInvalid, json_without_nul, webhook_annotation_check
from backend.core.cli import ProgressCallback
from backend.core.exceptions import ApplicationError
from backend.jobs.services import job_create

logger = logging.getLogger(__name__)

# Annotations saved within this window before the watermark are looked at again (clock ties, slow commits).
WATERMARK_SLACK = timedelta(minutes=5)


@dataclass
class ReconcileReport:
    applied: int = 0
    unchanged: int = 0
    failed: int = 0
    deleted: int = 0
    webhook_reenabled: bool = False
    links_resigned: int = 0
    error: str = ""  # set by campaign_reconcile_or_record when the campaign could not be reconciled

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
    try:
        annotation, task = json_without_nul(annotation), json_without_nul(task)
    except WebhookPayloadInvalid:  # too deep to store: its id is enough to find it in Label Studio
        annotation, task = {"id": annotation.get("id")}, {"id": task.get("id")}
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
        # Tasks wait for labellers longer than a signed link lives (network: outside any transaction)
        report.links_resigned += ls_task_image_link_refresh(ls=ls, task=task_obj)
        task = {"id": task_obj.id, "data": task_obj.data}
        changed = []
        for annotation in task_obj.annotations:
            seen.add(annotation["id"])
            try:  # what a webhook delivery is checked for (annotator/webhook_payload.py), NULs removed
                annotation = json_without_nul(annotation)
                webhook_annotation_check(annotation, path=f"task {task_obj.id} annotation")
                updated_at = parse_ls_time(annotation.get("updated_at") or annotation.get("created_at"))
            except ApplicationError as exc:
                _record_failure(campaign, task, annotation, exc.message)
                report.failed += 1
                continue
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
            except Exception as exc:  # one annotation the database refuses must not stop the campaign's others
                logger.exception("reconcile: annotation %s of campaign %s", annotation.get("id"), campaign.name)
                _record_failure(campaign, task, annotation, f"unexpected error: {exc.__class__.__name__}: {exc}")
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


RECONCILE_FAILED_ACTION = "RECONCILE_CAMPAIGN"


def _record_campaign_failure(campaign: Campaign, error: str) -> None:
    """A failed reconcile of a whole campaign, where operators look (/api/labelstudio/events/?status=failed):
    one row per campaign holding its last failure (processed_at: when), so one failing every run adds no rows."""
    error = error.replace("\x00", "")[:2000]
    last = WebhookEvent.objects.filter(source=WebhookEvent.Source.RECONCILE, action=RECONCILE_FAILED_ACTION,
                                       payload__campaign_id=campaign.pk).order_by("-id").first()
    if last is not None:
        WebhookEvent.objects.filter(pk=last.pk).update(error=error, processed_at=timezone.now())
        return
    WebhookEvent.objects.create(
        source=WebhookEvent.Source.RECONCILE, action=RECONCILE_FAILED_ACTION, ls_project_id=campaign.ls_project_id,
        payload={"campaign_id": campaign.pk, "campaign": campaign.name}, status=WebhookEvent.Status.FAILED,
        error=error, processed_at=timezone.now(),
    )


def campaign_reconcile_or_record(*, campaign: Campaign, on_progress: ProgressCallback | None = None
                                 ) -> ReconcileReport:
    """`campaign_reconcile` for loops over campaigns: a campaign that fails (its project deleted, Label Studio
    refusing, a database error) is logged and recorded as a failed event, and its report carries the error, so
    the loop goes on with the next campaign."""
    try:
        return campaign_reconcile(campaign=campaign, on_progress=on_progress)
    except Exception as exc:
        logger.exception("reconcile of campaign %s failed", campaign.name)
        error = exc.message if isinstance(exc, ApplicationError) else f"{exc.__class__.__name__}: {exc}"
        _record_campaign_failure(campaign, error)
        return ReconcileReport(error=error)


def campaign_reconcile_enqueue(*, campaign: Campaign, created_by=None):
    """Queue a `labelstudio_reconcile` job (queue io); while one is queued or running, that one is returned."""
    job, _ = job_create(kind="labelstudio_reconcile", params={"campaign_id": campaign.pk}, subject=campaign,
                        created_by=created_by, dedupe_key=f"reconcile:campaign:{campaign.pk}")
    return job
