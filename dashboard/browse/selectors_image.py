"""Reads for the image page (/browse/images/<id>/): the image, every pass on it (history included), where it was
sent and which dataset versions hold it. A fixed number of queries whatever the number of passes, regions,
fixes or versions: each relation is one prefetch or one query."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Prefetch

from annotator.models import CampaignTask
from backend.annotations.models import Annotation, MaskLabel, RegionLabel
from backend.images.models import GeneratedImage
from datasets.models import DatasetItem, DatasetVersion


@dataclass(frozen=True)
class ImagePage:
    image: GeneratedImage
    passes: list[Annotation]  # newest first, replaced and deleted ones too
    items: list[DatasetItem]  # one per complete dataset version holding the image, with version and dataset
    tasks: list[CampaignTask]  # the Label Studio tasks it became, with their campaign
    previous_id: int | None  # the neighbours by id, for ←/→
    next_id: int | None


def _passes(image_id: int) -> list[Annotation]:
    regions = RegionLabel.objects.select_related("artifact_class")
    return list(
        Annotation.objects.filter(image_id=image_id)
        .select_related("user", "model_version")
        .prefetch_related("masks", Prefetch("regions", queryset=regions))
        .order_by("-created_at", "-id")
    )


def image_page_get(*, image_id: int) -> ImagePage | None:
    fixes = GeneratedImage.objects.only("id", "fixed_from_id", "fix_par_before", "fix_par_after", "created_at")
    image = (
        GeneratedImage.objects.select_related("generator", "task", "fixed_from")
        .prefetch_related("conditional_inputs", Prefetch("fixes", queryset=fixes.order_by("id")))
        .filter(pk=image_id)
        .first()
    )
    if image is None:
        return None
    items = list(
        DatasetItem.objects.filter(image_id=image_id, version__status=DatasetVersion.Status.READY)
        .select_related("version__dataset")
        .order_by("version__dataset__name", "version__number")
    )
    tasks = list(CampaignTask.objects.filter(image_id=image_id).select_related("campaign").order_by("pushed_at"))
    ids = GeneratedImage.objects.values_list("id", flat=True)
    return ImagePage(
        image=image, passes=_passes(image_id), items=items, tasks=tasks,
        previous_id=ids.filter(id__lt=image_id).order_by("-id").first(),
        next_id=ids.filter(id__gt=image_id).order_by("id").first(),
    )


def image_exists(*, image_id: int) -> bool:
    return GeneratedImage.objects.filter(pk=image_id).exists()


def passes_for_review(*, image_id: int, annotation_ids: list[int]) -> list[Annotation]:
    """The chosen passes of this image, with what copying them needs (labeller, mask file, regions)."""
    regions = RegionLabel.objects.select_related("artifact_class")
    return list(
        Annotation.objects.filter(image_id=image_id, pk__in=annotation_ids)
        .select_related("user", "image")
        .prefetch_related(Prefetch("masks", queryset=MaskLabel.objects.select_related("blob")),
                          Prefetch("regions", queryset=regions))
        .order_by("id")
    )


def pass_mask_get(*, annotation_id: int) -> MaskLabel | None:
    """The mask of one pass with its blob: what its overlay is drawn from."""
    return MaskLabel.objects.select_related("blob").filter(annotation_id=annotation_id).order_by("id").first()
