"""Many recorded webhook events converted in one transaction: the drain's batches (annotator/services/stream.py).

The common delivery is a first version of an annotation on a known task. Such events are converted together:
the lookups (campaigns, tasks, users, stored versions) are one query each for the batch, the passes are
inserted with bulk_create (backend/annotations/bulk.py, one blob write per distinct mask) and the events are
marked processed, all in one transaction. Anything else (an update of a stored annotation, a delete, an
annotation that fails a check, an id seen twice in the batch) is left to `webhook_event_process`, one event at
a time and in order after the batch, so it fails alone with its own message, exactly as before. Should the
batch itself fail (a race with reconcile on a unique key, an unexpected error), it is rolled back whole and
every event goes the one-at-a-time way. Exactly once holds as for single events: the same advisory lock per
Label Studio annotation id, the unique SyncedAnnotation key, and only pending events are taken.
"""

import logging
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from annotator.converter import ConversionError, results_to_labels
from annotator.models import Campaign, CampaignTask, LabelStudioUser, SyncedAnnotation, WebhookEvent
from annotator.services.events import ANNOTATION_ACTIONS, event_annotations, webhook_event_process
from annotator.services.intake import LOCK_NAMESPACE, announce_stored, ls_users_link, parse_ls_time
from backend.annotations.bulk import NewPass, annotations_create_many, new_pass_check
from backend.annotations.masks import mask_array_to_canonical
from backend.annotations.models import Annotation
from backend.annotations.services import region_inputs
from backend.core.blobs import atomic_with_blobs
from backend.core.exceptions import ApplicationError
from backend.taxonomy.selectors import artifact_class_list

logger = logging.getLogger(__name__)


@dataclass
class BatchReport:
    batched: int = 0  # events converted together
    one_by_one: int = 0  # events left to webhook_event_process
    statuses: dict = field(default_factory=dict)


class _NotBatchable(Exception):
    """This event takes the one-at-a-time path (which stores it, or fails it with the reason)."""


def webhook_events_process_batch(*, event_ids: list[int]) -> BatchReport:
    """Convert these events (only the pending ones; a re-run is harmless). Returns what took which path."""
    events = list(WebhookEvent.objects.filter(pk__in=event_ids, status=WebhookEvent.Status.PENDING).order_by("pk"))
    report = BatchReport()
    users = [a.get("completed_by") for e in events for a in _payload_annotations(e.payload)]
    try:
        ls_users_link(users)  # network (only for users not linked yet): before the transaction
    except Exception:  # their events go one by one, which links again and fails each with the reason
        logger.exception("could not link the Label Studio users of a batch of %d webhook events", len(events))
    single: list[int] = []
    try:
        with atomic_with_blobs():  # rolled back, it also removes the mask files it wrote
            batched, single = _convert_batch(event_ids=[e.pk for e in events])
    except Exception:  # a race (unique key, deadlock) or a bug: nothing of the batch is kept
        logger.exception("a batch of %d webhook events was rolled back; processing them one by one", len(events))
        batched, single = [], [e.pk for e in events]
    report.batched = len(batched)
    for event_id in single:
        status = webhook_event_process(event_id=event_id).status
        report.statuses[status] = report.statuses.get(status, 0) + 1
    report.one_by_one = len(single)
    processed = WebhookEvent.Status.PROCESSED
    report.statuses[processed] = report.statuses.get(processed, 0) + len(batched)
    return report


def _payload_annotations(payload) -> list[dict]:
    if not isinstance(payload, dict):
        return []
    annotations = payload.get("annotations") or [payload.get("annotation") or {}]
    return [a for a in annotations if isinstance(a, dict)] if isinstance(annotations, list) else []


def _convert_batch(*, event_ids: list[int]) -> tuple[list[int], list[int]]:
    """Inside the transaction: store the batchable events; returns (batched ids, ids left for one by one)."""
    events = list(WebhookEvent.objects.select_for_update(skip_locked=True)
                  .filter(pk__in=event_ids, status=WebhookEvent.Status.PENDING).order_by("pk"))
    campaigns = {c.ls_project_id: c for c in
                 Campaign.objects.filter(ls_project_id__in={e.ls_project_id for e in events})}
    candidates, single, seen = [], [], set()
    for event in events:
        ids = [a.get("id") for a in _payload_annotations(event.payload)]
        # An id seen earlier in the batch (or in a delete) keeps its order: this event goes after, on its own.
        repeated = len(set(ids)) < len(ids) or any(i in seen for i in ids)
        seen.update(ids)
        try:
            if repeated or event.action not in ANNOTATION_ACTIONS or event.ls_project_id not in campaigns:
                raise _NotBatchable
            pairs = event_annotations(event)
            if not all(isinstance(a.get("id"), int) for a, _ in pairs):
                raise _NotBatchable
            candidates.append((event, pairs))
        except (_NotBatchable, ApplicationError):
            single.append(event.pk)
    ls_ids = sorted({a["id"] for _, pairs in candidates for a, _ in pairs})
    _lock_annotation_ids(ls_ids)
    stored = set(SyncedAnnotation.objects.filter(ls_annotation_id__in=ls_ids).values_list("ls_annotation_id",
                                                                                           flat=True))
    links = {t.ls_task_id: t for t in CampaignTask.objects.select_related("image").filter(
        ls_task_id__in={t.get("id") for _, pairs in candidates for _, t in pairs if isinstance(t.get("id"), int)})}
    users = {u.ls_user_id: u.user for u in LabelStudioUser.objects.select_related("user").filter(
        ls_user_id__in={a.get("completed_by") for _, pairs in candidates for a, _ in pairs
                        if isinstance(a.get("completed_by"), int)})}
    classes = list(artifact_class_list())
    passes, synced, batched = [], [], []
    for event, pairs in candidates:
        try:
            built = [_build(a, t, stored=stored, links=links, users=users, classes=classes) for a, t in pairs]
        except (_NotBatchable, ApplicationError, ConversionError, ValueError, TypeError):
            single.append(event.pk)
            continue
        batched.append(event)
        for annotation, task, new in built:
            passes.append(new)
            synced.append((campaigns[event.ls_project_id], annotation, task, new.submitted_at))
    annotations = annotations_create_many(passes=passes)
    SyncedAnnotation.objects.bulk_create([
        SyncedAnnotation(campaign=campaign, ls_annotation_id=annotation["id"], ls_task_id=task.get("id") or 0,
                         ls_updated_at=updated_at, annotation=stored_pass)
        for (campaign, annotation, task, updated_at), stored_pass in zip(synced, annotations, strict=True)])
    WebhookEvent.objects.filter(pk__in=[e.pk for e in batched]).update(
        status=WebhookEvent.Status.PROCESSED, processed_at=timezone.now())
    newest = {}  # the learning loop counts a campaign's labels afresh: one announcement per campaign is enough
    for (campaign, *_), stored_pass in zip(synced, annotations, strict=True):
        if stored_pass.status == Annotation.Status.SUBMITTED:
            newest[campaign.pk] = (campaign, stored_pass)
    for campaign, stored_pass in newest.values():
        transaction.on_commit(lambda c=campaign, a=stored_pass: announce_stored(c, a))
    return [e.pk for e in batched], sorted(single)


def _lock_annotation_ids(ls_ids: list[int]) -> None:
    """The per-annotation lock of `ls_annotation_apply`, for many ids in one statement (ascending: no deadlock
    between two batches)."""
    if not ls_ids or transaction.get_connection().vendor != "postgresql":
        return
    with transaction.get_connection().cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, i) FROM (SELECT unnest(%s::integer[]) AS i ORDER BY 1) s",
                       [LOCK_NAMESPACE, ls_ids])


def _build(annotation: dict, task: dict, *, stored: set, links: dict, users: dict, classes: list):
    """(annotation, task, NewPass) for a first version on a known task; _NotBatchable otherwise."""
    ls_id = annotation["id"]
    link = links.get(task.get("id"))
    user = users.get(annotation.get("completed_by"))
    if ls_id in stored or link is None or user is None:
        raise _NotBatchable
    image = link.image
    labels = results_to_labels(annotation.get("result") or [], width=image.width, height=image.height)
    regions = region_inputs(((r.label, (r.x1, r.y1, r.x2, r.y2), r.caption) for r in labels.regions),
                            classes=classes)
    lead_time = annotation.get("lead_time")
    new = NewPass(
        image=image, user=user, mask=mask_array_to_canonical(labels.mask) if labels.mask is not None else None,
        regions=regions,
        status=Annotation.Status.REJECTED if annotation.get("was_cancelled") else Annotation.Status.SUBMITTED,
        lead_time=float(lead_time) if lead_time is not None else None,
        started_at=parse_ls_time(annotation["draft_created_at"]) if annotation.get("draft_created_at") else None,
        submitted_at=parse_ls_time(annotation.get("updated_at") or annotation.get("created_at")),
        no_artifacts=labels.no_artifacts, prelabel=link.prelabel,
    )
    new_pass_check(new)
    return annotation, task, new
