"""Webhook deliveries: record at once, convert later in a job, failures kept with their reason."""

import logging
from datetime import timedelta

from django.db import IntegrityError, OperationalError, transaction
from django.utils import timezone

from annotator.models import Campaign, WebhookEvent
from annotator.services.intake import (
    CREATED,
    DELETED,
    UPDATED,
    IntakeError,
    ls_annotation_apply,
    ls_annotation_delete,
    ls_users_link,
)
from annotator.webhook_payload import WebhookPayloadInvalid, json_without_nul, webhook_payload_check
from backend.core.exceptions import ApplicationError

logger = logging.getLogger(__name__)

ANNOTATION_ACTIONS = {"ANNOTATION_CREATED", "ANNOTATIONS_CREATED", "ANNOTATION_UPDATED"}
DELETE_ACTIONS = {"ANNOTATIONS_DELETED", "ANNOTATION_DELETED"}


def _project_id(payload: dict) -> int | None:
    project = payload.get("project")
    if isinstance(project, dict):
        project = project.get("id")
    return project if isinstance(project, int) else None


@transaction.atomic
def webhook_event_record(*, payload: dict, source: str = WebhookEvent.Source.WEBHOOK,
                         delivery_id: str | None = None) -> WebhookEvent:
    """Store a delivery: pending when its payload passes `webhook_payload_check`, else failed with the reason
    (the caller queues only pending ones). NUL characters are removed first; PostgreSQL cannot store them."""
    event = webhook_event_build(payload=payload, source=source, delivery_id=delivery_id)
    event.save(force_insert=True)
    return event


def webhook_event_build(*, payload: dict, source: str = WebhookEvent.Source.WEBHOOK,
                        delivery_id: str | None = None) -> WebhookEvent:
    """The unsaved WebhookEvent `webhook_event_record` stores (the drain inserts a batch of them at once)."""
    action = str(payload.get("action") or "").replace("\x00", "")[:60]
    failed = {"source": source, "action": action, "delivery_id": delivery_id, "status": WebhookEvent.Status.FAILED,
              "processed_at": timezone.now()}
    try:
        payload = json_without_nul(payload)
    except WebhookPayloadInvalid as exc:  # too deep to store: the action is all that is kept
        return WebhookEvent(**failed, payload={"action": action}, error=f"invalid payload: {exc}")
    try:
        webhook_payload_check(payload)
    except WebhookPayloadInvalid as exc:  # kept whole for the operator; no column gets its out-of-range ids
        return WebhookEvent(**failed, payload=payload, error=f"invalid payload: {exc}")
    return WebhookEvent(source=source, action=action, ls_project_id=_project_id(payload), payload=payload,
                        delivery_id=delivery_id)


def event_annotations(event: WebhookEvent) -> list[tuple[dict, dict]]:
    """(annotation, task) pairs of a created / updated event; IntakeError when one is missing."""
    payload = event.payload
    annotations = payload.get("annotations") or ([payload["annotation"]] if payload.get("annotation") else [])
    if not annotations:
        raise IntakeError(f"{event.action} without an annotation in its payload")
    tasks = {t.get("id"): t for t in (payload.get("tasks") or []) if isinstance(t, dict)}
    if isinstance(payload.get("task"), dict):
        tasks[payload["task"].get("id")] = payload["task"]
    pairs = []
    for annotation in annotations:
        task = tasks.get(annotation.get("task")) or payload.get("task")
        if not isinstance(task, dict):
            raise IntakeError(f"annotation {annotation.get('id')} comes without its task")
        pairs.append((annotation, task))
    return pairs


def _apply(event: WebhookEvent) -> int:
    """Apply one event; returns how many annotations it created, updated or deleted."""
    payload = event.payload
    campaign = Campaign.objects.filter(ls_project_id=event.ls_project_id).first()
    if campaign is None:
        raise IntakeError(f"Label Studio project {event.ls_project_id} belongs to no Flawmap campaign")
    changed = 0
    if event.action in ANNOTATION_ACTIONS:
        for annotation, task in event_annotations(event):
            if ls_annotation_apply(campaign=campaign, task=task, annotation=annotation) in (CREATED, UPDATED):
                changed += 1
    elif event.action in DELETE_ACTIONS:
        for annotation in payload.get("annotations") or [payload.get("annotation") or {}]:
            if ls_annotation_delete(ls_annotation_id=annotation.get("id")) == DELETED:
                changed += 1
    else:
        raise IntakeError(f"unhandled webhook action {event.action!r}")
    return changed


TRANSIENT_ATTEMPTS = 3


def webhook_event_process(*, event_id: int) -> WebhookEvent:
    """Convert one recorded event. Only pending events are processed, so a re-run is harmless.

    Races with concurrent jobs (a unique key, a deadlock) roll the attempt back and it is tried again.
    """
    for attempt in range(1, TRANSIENT_ATTEMPTS + 1):
        try:
            return _process_once(event_id)
        except (IntegrityError, OperationalError) as exc:
            if attempt == TRANSIENT_ATTEMPTS:
                return _fail(event_id, f"gave up after {attempt} attempts: {exc.__class__.__name__}: {exc}")
            logger.warning("webhook event %s: %s, retrying", event_id, exc)
    raise AssertionError("unreachable")


def _fail(event_id: int, error: str) -> WebhookEvent:
    # Everything the event wrote was rolled back; only the failure is recorded.
    WebhookEvent.objects.filter(pk=event_id, status=WebhookEvent.Status.PENDING).update(
        status=WebhookEvent.Status.FAILED, error=error, processed_at=timezone.now())
    return WebhookEvent.objects.get(pk=event_id)


def _annotation_users(payload: dict) -> list:
    annotations = payload.get("annotations") or [payload.get("annotation") or {}]
    return [a.get("completed_by") for a in annotations if isinstance(a, dict)]


def _process_once(event_id: int) -> WebhookEvent:
    try:
        event = WebhookEvent.objects.filter(pk=event_id, status=WebhookEvent.Status.PENDING).first()
        if event is not None and isinstance(event.payload, dict):
            ls_users_link(_annotation_users(event.payload))  # network: before the transaction
        with transaction.atomic():
            event = WebhookEvent.objects.select_for_update().get(pk=event_id)
            if event.status != WebhookEvent.Status.PENDING:
                return event
            event.status = WebhookEvent.Status.PROCESSED if _apply(event) else WebhookEvent.Status.SKIPPED
            event.processed_at = timezone.now()
            event.save(update_fields=["status", "processed_at"])
            return event
    except ApplicationError as exc:
        return _fail(event_id, exc.message)
    except (IntegrityError, OperationalError):
        raise  # transient: the caller tries again
    except Exception as exc:  # never leave an event pending forever; reconcile recovers the annotation
        logger.exception("webhook event %s failed", event_id)
        return _fail(event_id, f"unexpected error: {exc.__class__.__name__}: {exc}")


def webhook_events_process_stale(*, older_than: timedelta = timedelta(minutes=5)) -> int:
    """Process events still pending after `older_than` (their job was never queued, or its worker died)."""
    cutoff = timezone.now() - older_than
    ids = list(WebhookEvent.objects.filter(status=WebhookEvent.Status.PENDING, received_at__lt=cutoff)
               .order_by("id").values_list("id", flat=True))
    for event_id in ids:
        webhook_event_process(event_id=event_id)
    return len(ids)
