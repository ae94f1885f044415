"""Thin Celery tasks: a webhook event, and the periodic reconcile (Celery beat). Pushes and on-demand
reconciles run as Jobs: annotator/jobs.py."""

from celery import shared_task

from annotator.models import Campaign
from annotator.services.events import webhook_event_process, webhook_events_process_stale
from annotator.services.intake_batch import webhook_events_process_batch
from annotator.services.reconcile import campaign_reconcile_or_record


@shared_task(name="annotator.process_webhook_event")
def process_webhook_event(event_id: int) -> str:
    return webhook_event_process(event_id=event_id).status


@shared_task(name="annotator.process_webhook_events")
def process_webhook_events(event_ids: list[int]) -> dict:
    report = webhook_events_process_batch(event_ids=event_ids)
    return {"batched": report.batched, "one_by_one": report.one_by_one}


@shared_task(name="annotator.reconcile_all")
def reconcile_all() -> dict:
    stale = webhook_events_process_stale()
    # One failing campaign is recorded (a failed event) and the others are still reconciled.
    reports = {c.name: campaign_reconcile_or_record(campaign=c).as_dict()
               for c in Campaign.objects.exclude(ls_project_id=None).order_by("pk")}
    return {"stale_events_processed": stale, "campaigns": reports}
