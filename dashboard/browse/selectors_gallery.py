"""Reads for the gallery: the filters' choice lists and one page of images with their stored figures.

A page is a fixed set of queries whatever its size or filters: one per choice list, the count and the page's rows
(image, generator, task and the stored label check in one join). Nothing is computed per image: PAR, label
source, disagreement, uncertainty and the representative pass are stored when a pass is."""

from __future__ import annotations

import math
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db.models import Exists, F, OuterRef, QuerySet

from annotator.models import Campaign
from backend.annotations.models import Annotation
from backend.images.models import GeneratedImage, Generator, SynthesisTask
from backend.taxonomy.selectors import artifact_class_list
from dashboard.browse.filters import GalleryFilter, GalleryOptions
from datasets.models import DatasetVersion


def gallery_options() -> GalleryOptions:
    generators = list(Generator.objects.order_by("name", "version").values_list("id", "name", "version"))
    annotators = (get_user_model().objects.filter(Exists(Annotation.objects.filter(user=OuterRef("pk"))))
                  .order_by("username").values_list("username", flat=True))
    versions = (DatasetVersion.objects.filter(status=DatasetVersion.Status.READY)
                .order_by("dataset__name", "number").values_list("id", "dataset__name", "number"))
    return GalleryOptions(
        generators=[(str(pk), f"{name} {version}".strip()) for pk, name, version in generators],
        generator_versions=[(v, v) for v in sorted({version for _, _, version in generators if version})],
        tasks=[(slug, slug) for slug in SynthesisTask.objects.order_by("order", "slug").values_list("slug", flat=True)],
        classes=[(slug, f"{code} {name}") for slug, code, name in artifact_class_list().values_list(
            "slug", "code", "name")],
        annotators=[(u, u) for u in annotators],
        campaigns=[(str(pk), name) for pk, name in Campaign.objects.order_by("name").values_list("id", "name")],
        dataset_versions=[(str(pk), f"{name} v{number}") for pk, name, number in versions],
    )


def gallery_images() -> QuerySet[GeneratedImage]:
    """Every image with what a gallery card shows, in one join (no per-image query)."""
    return (GeneratedImage.objects.select_related("generator", "task")
            .annotate(pass_id=F("label_check__representative_id"), disagreement=F("label_check__disagreement"),
                      differing_pixels=F("label_check__differing_pixels"),
                      uncertainty=F("label_check__uncertainty"))
            .defer("metadata", "prompt", "source_uri", "generator__metadata", "task__description"))


@dataclass(frozen=True)
class GalleryPage:
    images: list[GeneratedImage]
    number: int  # 1-based
    pages: int
    total: int
    size: int

    @property
    def previous(self) -> int | None:
        return self.number - 1 if self.number > 1 else None

    @property
    def next(self) -> int | None:
        return self.number + 1 if self.number < self.pages else None


def gallery_page(filterset: GalleryFilter, *, page: str | None) -> GalleryPage:
    """The page'th page (1 when absent; the last one past the end) of the filtered, sorted images: two queries, the
    count and the rows, even when nothing matches. ValueError when `page` is not a whole number from 1."""
    number = 1 if page in (None, "") else int(page)
    if number < 1:
        raise ValueError("page must be 1 or more")
    images = filterset.qs.order_by(*filterset.ordering)
    size = filterset.page_size
    total = images.count()
    pages = max(1, math.ceil(total / size))
    number = min(number, pages)
    return GalleryPage(images=list(images[(number - 1) * size:number * size]), number=number, pages=pages,
                       total=total, size=size)


def gallery_image_ids(filterset: GalleryFilter, *, first: int) -> list[int]:
    """The ids of the first `first` images of the filtered, sorted gallery (an action's "first N")."""
    return list(filterset.qs.order_by(*filterset.ordering).values_list("id", flat=True)[:first])


def thumbnail_image(*, image_id: int) -> GeneratedImage | None:
    """Just what a thumbnail's key needs (the image's sha256); the blob row is read only on a miss."""
    return GeneratedImage.objects.filter(pk=image_id).only("id", "blob_id").first()


def task_ids(*, slugs) -> list[int]:
    return list(SynthesisTask.objects.filter(slug__in=slugs).values_list("id", flat=True)) if slugs else []
