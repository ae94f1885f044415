"""Writes for annotations: create a labelling pass (mask + regions), replace it keeping history."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from backend.annotations.masks import CanonicalMask
from backend.annotations.models import Annotation, MaskLabel, RegionLabel
from backend.annotations.signals import image_labels_changed_announce
from backend.core.blobs import atomic_with_blobs, blob_read, blob_store
from backend.core.exceptions import ApplicationError, RoleRefused
from backend.core.roles import Role, user_role
from backend.images.models import GeneratedImage
from backend.taxonomy.models import ArtifactClass
from backend.taxonomy.selectors import artifact_class_list

LABELLED_STATUSES = (Annotation.Status.SUBMITTED, Annotation.Status.REVIEWED)

# (class key, (x1, y1, x2, y2), caption): a region as the API, Label Studio and the VLM describe it.
RegionSpec = tuple[str, Sequence[float], str]


@dataclass(frozen=True)
class RegionInput:
    x1: float
    y1: float
    x2: float
    y2: float
    artifact_class: ArtifactClass
    caption: str = ""
    link_to_mask: bool = False


def region_inputs(specs: Iterable[RegionSpec], *, skip_unknown: bool = False,
                  classes: Sequence[ArtifactClass] | None = None) -> list[RegionInput]:
    """Regions in the current taxonomy. A class key is a class's slug, SynArtifact code or name. An unknown key
    is an ApplicationError naming it, or left out with `skip_unknown` (a model predicting a class the taxonomy
    no longer has). A batch passes `classes` (artifact_class_list(), read once)."""
    specs = list(specs)
    if not specs:
        return []  # most passes paint a mask only: no need to look the taxonomy up
    classes = list(artifact_class_list()) if classes is None else classes
    by_key = {c.name: c for c in classes} | {c.code: c for c in classes} | {c.slug: c for c in classes}
    regions = []
    for key, (x1, y1, x2, y2), caption in specs:
        artifact_class = by_key.get(key)
        if artifact_class is None:
            if skip_unknown:
                continue
            raise ApplicationError(f"unknown artifact class {key!r}")
        regions.append(RegionInput(x1, y1, x2, y2, artifact_class, caption or ""))
    return regions


def _check_region(region: RegionInput, image: GeneratedImage) -> None:
    if not (0 <= region.x1 < region.x2 <= image.width and 0 <= region.y1 < region.y2 <= image.height):
        raise ApplicationError(
            f"box ({region.x1}, {region.y1}, {region.x2}, {region.y2}) is empty or outside the "
            f"{image.width}x{image.height} image"
        )


def annotation_inputs_check(*, image: GeneratedImage, user, model_version, mask: CanonicalMask | None,
                            regions: Sequence[RegionInput], lead_time: float | None, prelabel: str) -> None:
    """What every stored pass must satisfy (annotation_create and the batch intake, backend/annotations/bulk.py)."""
    if (user is None) == (model_version is None):
        raise ApplicationError("an annotation needs exactly one annotator: a user or a model version")
    if mask is not None and (mask.width, mask.height) != (image.width, image.height):
        raise ApplicationError(
            f"mask is {mask.width}x{mask.height} but image {image.pk} is {image.width}x{image.height}"
        )
    for region in regions:
        _check_region(region, image)
    if lead_time is not None and lead_time < 0:
        raise ApplicationError("lead_time must be >= 0 seconds")
    if prelabel and (prelabel not in Annotation.Prelabel.values or user is None):
        raise ApplicationError(f"prelabel must be one of {', '.join(Annotation.Prelabel.values)} on a human pass")


def _check_requester(requested_by, *, status: str, replaces: Annotation | None) -> None:
    if requested_by is None or (user_role(requested_by) or 0) >= Role.REVIEWER:
        return
    if status == Annotation.Status.REVIEWED:
        raise RoleRefused("only a reviewer or an admin may mark a pass reviewed")
    if replaces is not None and replaces.user_id != requested_by.pk:
        raise RoleRefused(f"annotation {replaces.pk} is not your pass; an annotator replaces only their own")


def annotation_create(
    *,
    image: GeneratedImage,
    user=None,
    model_version=None,
    mask: CanonicalMask | None = None,
    regions: list[RegionInput] = (),
    status: str = Annotation.Status.SUBMITTED,
    lead_time: float | None = None,
    started_at: datetime | None = None,
    submitted_at: datetime | None = None,
    no_artifacts: bool = False,
    score: float | None = None,
    prelabel: str = "",
    replaces: Annotation | None = None,
    requested_by=None,
) -> Annotation:
    """Store one labelling pass. With `replaces`, the old pass is kept as history, not overwritten.

    `requested_by` is the API user asking (None for intake from Label Studio, ingest and models, which store
    what was decided elsewhere): below reviewer, they may not mark a pass reviewed nor replace someone else's.
    """
    _check_requester(requested_by, status=status, replaces=replaces)
    annotation_inputs_check(image=image, user=user, model_version=model_version, mask=mask, regions=regions,
                            lead_time=lead_time, prelabel=prelabel)
    if status != Annotation.Status.DRAFT and submitted_at is None:
        submitted_at = timezone.now()

    with atomic_with_blobs():
        if replaces is not None:
            replaces = Annotation.objects.select_for_update().get(pk=replaces.pk)
            if replaces.image_id != image.pk:
                raise ApplicationError("the replaced annotation belongs to another image")
            if not replaces.is_current:
                raise ApplicationError(f"annotation {replaces.pk} was already replaced")
            replaces.is_current = False
            replaces.save(update_fields=["is_current"])
        annotation = Annotation.objects.create(
            image=image, user=user, model_version=model_version, status=status, lead_time=lead_time,
            started_at=started_at, submitted_at=submitted_at, no_artifacts=no_artifacts, score=score,
            prelabel=prelabel, previous=replaces,
        )
        mask_label = None
        if mask is not None:
            blob = blob_store(data=mask.png, content_type="image/png")
            mask_label = MaskLabel.objects.create(
                annotation=annotation, blob=blob, width=mask.width, height=mask.height,
                artifact_pixels=mask.artifact_pixels, par=mask.par,
            )
        RegionLabel.objects.bulk_create(
            RegionLabel(
                annotation=annotation, x1=r.x1, y1=r.y1, x2=r.x2, y2=r.y2, artifact_class=r.artifact_class,
                caption=r.caption, mask=mask_label if r.link_to_mask else None,
            )
            for r in regions
        )
        image_label_summary_refresh(image=image)
    return annotation


@transaction.atomic
def annotation_mark_deleted(*, annotation: Annotation) -> Annotation:
    """Deleted upstream (e.g. in Label Studio): keep the row as history, stop counting it."""
    annotation = Annotation.objects.select_for_update().get(pk=annotation.pk)
    if annotation.deleted_at is None:
        annotation.deleted_at = timezone.now()
        annotation.is_current = False
        annotation.save(update_fields=["deleted_at", "is_current"])
        image_label_summary_refresh(image=annotation.image)
    return annotation


@transaction.atomic
def image_label_summary_refresh(*, image: GeneratedImage) -> GeneratedImage:
    """Recompute the image's denormalised label summary (is_labelled, par, par_source).

    The representative PAR comes from the newest current human pass that was submitted or reviewed
    (a "no artifacts" pass counts as PAR 0); without one, from the newest current model pass.
    """
    image.is_labelled, image.par, image.par_source = label_summary(summary_passes().filter(image=image))
    image.save(update_fields=["is_labelled", "par", "par_source"])
    image_labels_changed_announce(image_ids=[image.pk])  # the browser's disagreement and thumbnail follow
    return image


def summary_passes():
    """The passes an image's label summary is computed from, newest first, masks prefetched."""
    return (
        Annotation.objects.filter(is_current=True)
        .exclude(status__in=[Annotation.Status.DRAFT, Annotation.Status.REJECTED])
        .prefetch_related("masks")
        .order_by("-submitted_at", "-id")
    )


def label_summary(current: Iterable[Annotation]) -> tuple[bool, float | None, str]:
    """(is_labelled, par, par_source) of one image from its `summary_passes`."""
    current = list(current)
    human = [a for a in current if a.user_id and a.status in LABELLED_STATUSES]
    model = [a for a in current if a.model_version_id]
    for candidates, label in ((human, "human"), (model, "model")):
        for annotation in candidates:
            masks = list(annotation.masks.all())
            if masks:
                return bool(human), masks[0].par, label
            if annotation.no_artifacts:
                return bool(human), 0.0, label
    return bool(human), None, ""


def annotations_mark_reviewed(*, annotations: Sequence[Annotation], requested_by) -> list[Annotation]:
    """A reviewer accepts human passes as they are: each becomes a `reviewed` pass with the same labeller, mask,
    regions and timings, replacing it (history kept, as for the API's `status: reviewed` + `replaces`).

    The labeller and lead time stay the labeller's, so labelling-time statistics count the work once (a pass
    revised by the same user counts only the newest). All or none: one refused pass stores nothing.
    """
    _check_requester(requested_by, status=Annotation.Status.REVIEWED, replaces=None)
    if not annotations:
        raise ApplicationError("choose at least one pass to mark reviewed")
    for annotation in annotations:
        if annotation.user_id is None:
            raise ApplicationError(f"annotation {annotation.pk} is a model pass; a reviewer relabels it instead")
        if not annotation.is_current or annotation.status != Annotation.Status.SUBMITTED:
            raise ApplicationError(
                f"annotation {annotation.pk} is {annotation.status}{'' if annotation.is_current else ', replaced'}; "
                "only a current submitted pass can be marked reviewed")
    # Read the mask files before the transaction: the blob storage may be remote.
    copies = []
    for annotation in annotations:
        mask_label = next(iter(annotation.masks.all()), None)
        mask = None if mask_label is None else CanonicalMask(
            png=blob_read(mask_label.blob), width=mask_label.width, height=mask_label.height,
            artifact_pixels=mask_label.artifact_pixels, par=mask_label.par)
        regions = [RegionInput(r.x1, r.y1, r.x2, r.y2, r.artifact_class, r.caption, link_to_mask=r.mask_id is not None)
                   for r in annotation.regions.all()]
        copies.append((annotation, mask, regions))
    with atomic_with_blobs():
        return [
            annotation_create(
                image=annotation.image, user=annotation.user, mask=mask, regions=regions,
                status=Annotation.Status.REVIEWED, lead_time=annotation.lead_time,
                started_at=annotation.started_at, submitted_at=annotation.submitted_at,
                no_artifacts=annotation.no_artifacts, prelabel=annotation.prelabel, replaces=annotation,
                requested_by=requested_by,
            )
            for annotation, mask, regions in copies
        ]
