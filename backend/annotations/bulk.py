"""Writes for many new labelling passes at once (the webhook intake's batches): the same checks and rows as
`annotation_create`, with a handful of queries for the whole batch instead of a dozen per pass."""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

from backend.annotations.masks import CanonicalMask
from backend.annotations.models import Annotation, MaskLabel, RegionLabel
from backend.annotations.services import RegionInput, annotation_inputs_check, label_summary, summary_passes
from backend.annotations.signals import image_labels_changed_announce
from backend.core.blobs import atomic_with_blobs, sha256_hex
from backend.core.blobs_batch import blobs_store_hashed
from backend.images.models import GeneratedImage


@dataclass
class NewPass:
    """One new human pass (a first version: nothing is replaced); the arguments of `annotation_create`."""

    image: GeneratedImage
    user: object
    mask: CanonicalMask | None = None
    regions: Sequence[RegionInput] = field(default_factory=list)
    status: str = Annotation.Status.SUBMITTED
    lead_time: float | None = None
    started_at: datetime | None = None
    submitted_at: datetime | None = None
    no_artifacts: bool = False
    prelabel: str = ""


def new_pass_check(new: NewPass) -> None:
    """ApplicationError when `annotations_create_many` would refuse this pass (check before batching it)."""
    annotation_inputs_check(image=new.image, user=new.user, model_version=None, mask=new.mask,
                            regions=new.regions, lead_time=new.lead_time, prelabel=new.prelabel)


def annotations_create_many(*, passes: list[NewPass]) -> list[Annotation]:
    """Store new passes, all or none, in the caller's order. Each mask's bytes are written once however many
    passes share them; the images' label summaries are refreshed once each."""
    for new in passes:
        new_pass_check(new)
    now = timezone.now()
    with atomic_with_blobs():
        annotations = Annotation.objects.bulk_create([
            Annotation(image=p.image, user=p.user, status=p.status, lead_time=p.lead_time, started_at=p.started_at,
                       submitted_at=p.submitted_at or (now if p.status != Annotation.Status.DRAFT else None),
                       no_artifacts=p.no_artifacts, prelabel=p.prelabel)
            for p in passes
        ])
        with_mask = [(a, p, sha256_hex(p.mask.png)) for a, p in zip(annotations, passes, strict=True)
                     if p.mask is not None]
        blobs = blobs_store_hashed(items=[(sha, p.mask.png, "image/png") for _, p, sha in with_mask])
        masks = MaskLabel.objects.bulk_create([
            MaskLabel(annotation=a, blob=blobs[sha], width=p.mask.width, height=p.mask.height,
                      artifact_pixels=p.mask.artifact_pixels, par=p.mask.par)
            for a, p, sha in with_mask
        ])
        mask_of = {m.annotation_id: m for m in masks}
        RegionLabel.objects.bulk_create([
            RegionLabel(annotation=a, x1=r.x1, y1=r.y1, x2=r.x2, y2=r.y2, artifact_class=r.artifact_class,
                        caption=r.caption, mask=mask_of.get(a.pk) if r.link_to_mask else None)
            for a, p in zip(annotations, passes, strict=True) for r in p.regions
        ])
        images_label_summary_refresh(image_ids={p.image.pk for p in passes})
    return annotations


def images_label_summary_refresh(*, image_ids: Iterable[int]) -> None:
    """`image_label_summary_refresh` for many images: two reads and one update in all."""
    image_ids = sorted(set(image_ids))
    if not image_ids:
        return
    by_image = defaultdict(list)
    for annotation in summary_passes().filter(image_id__in=image_ids):
        by_image[annotation.image_id].append(annotation)
    images = list(GeneratedImage.objects.filter(pk__in=image_ids).order_by("pk").only("pk"))
    for image in images:
        image.is_labelled, image.par, image.par_source = label_summary(by_image[image.pk])
    GeneratedImage.objects.bulk_update(images, ["is_labelled", "par", "par_source"])
    image_labels_changed_announce(image_ids=image_ids)  # as image_label_summary_refresh does, once for all
