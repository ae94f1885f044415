"""Thin Celery jobs: ids in, one service call each."""

from celery import shared_task

from annotator.models import Campaign
from annotator.services.events import webhook_event_process, webhook_events_process_stale
from annotator.services.push import campaign_push_images
from annotator.services.reconcile import campaign_reconcile


@shared_task(name="annotator.process_webhook_event")
def process_webhook_event(event_id: int) -> str:
    return webhook_event_process(event_id=event_id).status


@shared_task(name="annotator.push_images")
def push_images(campaign_id: int, image_ids: list[int]) -> dict:
    report = campaign_push_images(campaign=Campaign.objects.get(pk=campaign_id), image_ids=image_ids)
    return report.__dict__


@shared_task(name="annotator.reconcile_campaign")
def reconcile_campaign(campaign_id: int) -> dict:
    return campaign_reconcile(campaign=Campaign.objects.get(pk=campaign_id)).as_dict()


@shared_task(name="annotator.reconcile_all")
def reconcile_all() -> dict:
    stale = webhook_events_process_stale()
    reports = {c.name: campaign_reconcile(campaign=c).as_dict() for c in Campaign.objects.exclude(ls_project_id=None)}
    return {"stale_events_processed": stale, "campaigns": reports}
