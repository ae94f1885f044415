import io

import django_filters
import numpy as np
from django.core.exceptions import ValidationError
from django.db.models import F, Prefetch, QuerySet
from PIL import Image

from backend.core.blobs import blob_read
from backend.images.models import ConditionalInput, GeneratedImage, Generator, SynthesisTask

ORDERINGS = {
    "par": [F("par").asc(nulls_last=True), "id"],
    "-par": [F("par").desc(nulls_last=True), "-id"],
    "created_at": ["created_at", "id"],
    "-created_at": ["-created_at", "-id"],
    "id": ["id"],
    "-id": ["-id"],
}


class ImageFilter(django_filters.FilterSet):
    generator = django_filters.ModelMultipleChoiceFilter(queryset=Generator.objects.all())
    generator_name = django_filters.CharFilter(field_name="generator__name")
    task = django_filters.ModelMultipleChoiceFilter(
        field_name="task__slug", to_field_name="slug", queryset=SynthesisTask.objects.all()
    )
    labelled = django_filters.BooleanFilter(field_name="is_labelled")
    par_min = django_filters.NumberFilter(field_name="par", lookup_expr="gte")
    par_max = django_filters.NumberFilter(field_name="par", lookup_expr="lte")
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    domain = django_filters.CharFilter()
    sha256 = django_filters.CharFilter(field_name="blob_id")
    ordering = django_filters.ChoiceFilter(choices=[(k, k) for k in ORDERINGS], method="order_by")

    class Meta:
        model = GeneratedImage
        fields = []

    def order_by(self, queryset, name, value):
        return queryset.order_by(*ORDERINGS[value])


def image_list(*, filters: dict | None = None) -> QuerySet[GeneratedImage]:
    qs = GeneratedImage.objects.select_related("generator", "task")
    filterset = ImageFilter(filters or {}, queryset=qs)
    if not filterset.is_valid():
        # Bad filter values are the caller's mistake: say so instead of ignoring the filter.
        raise ValidationError(filterset.errors)
    return filterset.qs


def image_get(*, image_id: int) -> GeneratedImage | None:
    return (
        GeneratedImage.objects.select_related("generator", "task", "blob")
        .prefetch_related("conditional_inputs",
                          Prefetch("fixes", queryset=GeneratedImage.objects.only("id", "fixed_from_id").order_by("id")))
        .filter(pk=image_id)
        .first()
    )


def generator_list() -> QuerySet[Generator]:
    return Generator.objects.all()


def image_with_blob_get(*, image_id: int) -> GeneratedImage | None:
    """Just the image and its blob: what serving its bytes needs."""
    return GeneratedImage.objects.select_related("blob").filter(pk=image_id).first()


def generator_get(*, generator_id: int) -> Generator | None:
    return Generator.objects.filter(pk=generator_id).first()


def conditional_input_get(*, image_id: int, input_id: int) -> ConditionalInput | None:
    return ConditionalInput.objects.select_related("blob").filter(pk=input_id, image_id=image_id).first()


def task_list() -> QuerySet[SynthesisTask]:
    return SynthesisTask.objects.all()


def image_pixels(image: GeneratedImage) -> np.ndarray:
    """The stored image decoded to an RGB uint8 HxWx3 array (what the segmenter and the inpainters take)."""
    with Image.open(io.BytesIO(blob_read(image.blob))) as decoded:
        return np.asarray(decoded.convert("RGB"))
