"""Label Studio annotations → Flawmap annotations. Shared by the webhook job and reconcile.

Idempotent by (Label Studio annotation id, updated_at): seeing the same version twice stores nothing;
a newer version replaces the Flawmap annotation and keeps the old one as history.
"""

import logging
import re
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils.dateparse import parse_datetime

from annotator.client import ls_client
from annotator.converter import ConversionError, results_to_labels
from annotator.models import Campaign, CampaignTask, LabelStudioUser, SyncedAnnotation
from annotator.services.push import IMAGE_ID_FIELD
from annotator.signals import human_annotation_stored
from backend.annotations.masks import mask_array_to_canonical
from backend.annotations.models import Annotation
from backend.annotations.services import RegionInput, annotation_create, annotation_mark_deleted, region_inputs
from backend.core.exceptions import ApplicationError
from backend.core.roles import Role
from backend.core.users import user_create_with_role
from backend.images.models import GeneratedImage

CREATED, UPDATED, UNCHANGED, DELETED = "created", "updated", "unchanged", "deleted"

logger = logging.getLogger(__name__)


class IntakeError(ApplicationError):
    """An annotation that cannot be stored; the event is marked failed with this message."""


def parse_ls_time(value) -> datetime:
    if isinstance(value, datetime):
        return value
    try:
        parsed = parse_datetime(str(value or ""))
    except ValueError:  # well formed but no date, e.g. February 30th
        parsed = None
    if parsed is None:
        raise IntakeError(f"annotation has no valid updated_at: {value!r}")
    return parsed


def _image_for(campaign: Campaign, task: dict) -> tuple[GeneratedImage, str]:
    """The task's image and what its labeller was shown (Annotation.Prelabel; blank when not known)."""
    link = CampaignTask.objects.select_related("image").filter(ls_task_id=task.get("id")).first()
    if link is not None:
        return link.image, link.prelabel
    image_id = (task.get("data") or {}).get(IMAGE_ID_FIELD)
    image = GeneratedImage.objects.filter(pk=image_id).first() if isinstance(image_id, int) else None
    if image is None:
        raise IntakeError(f"Label Studio task {task.get('id')} is not a Flawmap task (no known {IMAGE_ID_FIELD})")
    return image, ""


def ls_users_link(ls_user_ids) -> None:
    """Link each Label Studio user id to a Flawmap user (a new annotator, see `_ls_username`). The email lookup
    is a network call, so callers run this before their transaction."""
    wanted = {i for i in ls_user_ids if isinstance(i, int)}
    if not wanted:
        return
    known = set(LabelStudioUser.objects.filter(ls_user_id__in=wanted).values_list("ls_user_id", flat=True))
    for ls_user_id in sorted(wanted - known):  # one query for the users already linked, the usual case
        try:
            email = ls_client().user_email(user_id=ls_user_id)
        except Exception:  # the user may be gone upstream; we still keep the label, attributed by id
            email = ""
        _user_link(ls_user_id, email)


def _ls_username(ls_user_id: int, email: str) -> str:
    """`ls-<id>-<local part of the email>`, never the email itself: anyone may register any email in Label
    Studio, and matching it against existing usernames would file a stranger's labels under `admin`."""
    local = re.sub(r"[^\w.+-]", "", email.partition("@")[0], flags=re.ASCII)[:100]
    return f"ls-{ls_user_id}-{local}" if local else f"ls-{ls_user_id}"


@transaction.atomic
def _user_link(ls_user_id: int, email: str):
    """The Flawmap user of a Label Studio user: the linked one (by Label Studio user id, the only key), else a new
    annotator of its own; never an existing Flawmap user found by name."""
    link = LabelStudioUser.objects.select_related("user").filter(ls_user_id=ls_user_id).first()
    if link is not None:
        return link.user
    try:
        with transaction.atomic():
            user = user_create_with_role(username=_ls_username(ls_user_id, email), role=Role.ANNOTATOR)
            return LabelStudioUser.objects.create(ls_user_id=ls_user_id, user=user, email=email).user
    except IntegrityError:  # linked concurrently (unique ls_user_id): use that link; our new user is rolled back
        return LabelStudioUser.objects.select_related("user").get(ls_user_id=ls_user_id).user


def _user_for(ls_user_id) -> "get_user_model()":
    """The Flawmap user of a Label Studio user id, from the database only (ls_users_link ran before)."""
    if not isinstance(ls_user_id, int):
        raise IntakeError(f"annotation has no completed_by user id: {ls_user_id!r}")
    link = LabelStudioUser.objects.select_related("user").filter(ls_user_id=ls_user_id).first()
    # A link made concurrently, or a caller that did not link first: attribute by id, never a network call here.
    return link.user if link is not None else _user_link(ls_user_id, "")


def _regions(labels) -> list[RegionInput]:
    try:
        return region_inputs((r.label, (r.x1, r.y1, r.x2, r.y2), r.caption) for r in labels.regions)
    except ApplicationError as exc:
        raise IntakeError(exc.message) from exc


LOCK_NAMESPACE = 0x464D  # "FM": the advisory locks keyed by a Label Studio annotation id


def _lock_annotation_id(ls_id: int) -> None:
    """Webhook job and reconcile may meet on the same annotation; the second waits and then sees it stored."""
    connection = transaction.get_connection()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_NAMESPACE, ls_id])


def announce_stored(campaign: Campaign, annotation: Annotation) -> None:
    for receiver, outcome in human_annotation_stored.send_robust(sender=Campaign, campaign=campaign,
                                                                annotation=annotation):
        if isinstance(outcome, Exception):  # the label is stored; a failed reaction must not fail the intake
            logger.error("%s failed after annotation %s of campaign %s: %r", receiver, annotation.pk, campaign.pk,
                         outcome, exc_info=outcome)


@transaction.atomic
def ls_annotation_apply(*, campaign: Campaign, task: dict, annotation: dict) -> str:
    """Store one Label Studio annotation (created or updated)."""
    ls_id = annotation.get("id")
    if not isinstance(ls_id, int):
        raise IntakeError("annotation without an integer id")
    updated_at = parse_ls_time(annotation.get("updated_at") or annotation.get("created_at"))
    _lock_annotation_id(ls_id)
    synced = SyncedAnnotation.objects.select_for_update().filter(ls_annotation_id=ls_id).first()
    if synced is not None and (synced.deleted_at is not None or synced.ls_updated_at >= updated_at):
        return UNCHANGED
    image, prelabel = _image_for(campaign, task)
    try:
        labels = results_to_labels(annotation.get("result") or [], width=image.width, height=image.height)
    except ConversionError as exc:
        raise IntakeError(f"annotation {ls_id}: {exc}") from exc
    regions = _regions(labels)
    previous = synced.annotation if synced is not None and synced.annotation.is_current else None
    lead_time = annotation.get("lead_time")
    stored = annotation_create(
        image=image,
        user=_user_for(annotation.get("completed_by")),
        mask=mask_array_to_canonical(labels.mask) if labels.mask is not None else None,
        regions=regions,
        # A skipped (cancelled) task is kept for the time it cost but never counts as a label.
        status=Annotation.Status.REJECTED if annotation.get("was_cancelled") else Annotation.Status.SUBMITTED,
        lead_time=float(lead_time) if lead_time is not None else None,
        started_at=parse_ls_time(annotation["draft_created_at"]) if annotation.get("draft_created_at") else None,
        submitted_at=updated_at,
        no_artifacts=labels.no_artifacts,
        prelabel=prelabel,
        replaces=previous,
    )
    if stored.status == Annotation.Status.SUBMITTED:
        # Once committed, the learning loop may react (e.g. retrain once enough new labels arrived).
        transaction.on_commit(lambda: announce_stored(campaign, stored))
    if synced is None:
        SyncedAnnotation.objects.create(campaign=campaign, ls_annotation_id=ls_id, ls_task_id=task.get("id") or 0,
                                        ls_updated_at=updated_at, annotation=stored)
        return CREATED
    synced.ls_updated_at, synced.annotation = updated_at, stored
    synced.save(update_fields=["ls_updated_at", "annotation"])
    return UPDATED


@transaction.atomic
def ls_annotation_delete(*, ls_annotation_id: int) -> str:
    synced = SyncedAnnotation.objects.select_for_update().filter(ls_annotation_id=ls_annotation_id).first()
    if synced is None or synced.deleted_at is not None:
        return UNCHANGED
    deleted = annotation_mark_deleted(annotation=synced.annotation)
    synced.deleted_at = deleted.deleted_at
    synced.save(update_fields=["deleted_at"])
    return DELETED
