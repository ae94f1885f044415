"""Reads for the Label Studio gateway's API."""

from django.db.models import QuerySet

from annotator.models import Campaign, CampaignTask, WebhookEvent
from backend.core.exceptions import ApplicationError


def campaign_list() -> QuerySet[Campaign]:
    return Campaign.objects.all()


def campaign_get(*, campaign_id: int) -> Campaign | None:
    return Campaign.objects.filter(pk=campaign_id).first()


def campaigns_by_image(image_ids: set[int]) -> dict[int, tuple[str, ...]]:
    """The campaigns each image was sent to (for grouping labelling time by campaign)."""
    found: dict[int, list[str]] = {}
    for image_id, name in CampaignTask.objects.filter(image_id__in=image_ids).values_list("image_id", "campaign__name"):
        found.setdefault(image_id, []).append(name)
    return {k: tuple(v) for k, v in found.items()}


def webhook_event_list(*, status: str | None = None, source: str | None = None,
                       action: str | None = None) -> QuerySet[WebhookEvent]:
    qs = WebhookEvent.objects.all()
    for field, value, choices in (("status", status, WebhookEvent.Status.values),
                                  ("source", source, WebhookEvent.Source.values)):
        if value is not None:
            if value not in choices:
                raise ApplicationError(f"{field} must be one of {', '.join(choices)}")
            qs = qs.filter(**{field: value})
    if action:
        qs = qs.filter(action=action)
    return qs
