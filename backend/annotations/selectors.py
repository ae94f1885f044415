from django.db.models import QuerySet

from backend.annotations.models import Annotation


def annotation_list_for_image(*, image_id: int, include_history: bool = False) -> QuerySet[Annotation]:
    qs = (
        Annotation.objects.filter(image_id=image_id)
        .select_related("user", "model_version")
        .prefetch_related("masks", "regions__artifact_class")
    )
    return qs if include_history else qs.filter(is_current=True)


def annotation_get(*, annotation_id: int) -> Annotation | None:
    return (
        Annotation.objects.select_related("user", "model_version", "image")
        .prefetch_related("masks__blob", "regions__artifact_class")
        .filter(pk=annotation_id)
        .first()
    )
