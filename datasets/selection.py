"""Which images a dataset selects and which annotation stands for each (the label policy)."""

from collections.abc import Iterator
from dataclasses import dataclass

from django.db.models import Prefetch, QuerySet

from backend.annotations.models import Annotation
from backend.images.models import GeneratedImage
from datasets.models import Dataset

CHUNK = 500


@dataclass(frozen=True)
class Choice:
    image: GeneratedImage
    annotation: Annotation | None
    source: str  # "human", "model" or "" (unlabelled)


def candidate_images(dataset: Dataset) -> QuerySet[GeneratedImage]:
    qs = GeneratedImage.objects.select_related("generator", "task").order_by("id")
    generator_ids = list(dataset.generators.values_list("id", flat=True))
    task_ids = list(dataset.tasks.values_list("id", flat=True))
    if generator_ids:
        qs = qs.filter(generator_id__in=generator_ids)
    if task_ids:
        qs = qs.filter(task_id__in=task_ids)
    if dataset.created_after:
        qs = qs.filter(created_at__gte=dataset.created_after)
    if dataset.created_before:
        qs = qs.filter(created_at__lt=dataset.created_before)
    return qs


def _eligible(annotation: Annotation, policy: str) -> str:
    """'human' / 'model' when the policy lets this annotation represent its image, else ''."""
    if annotation.deleted_at is not None or not annotation.is_current:
        return ""
    if annotation.user_id:
        ok = annotation.status == Annotation.Status.REVIEWED if policy == Dataset.LabelPolicy.REVIEWED_ONLY \
            else annotation.status in (Annotation.Status.SUBMITTED, Annotation.Status.REVIEWED)
        return "human" if ok else ""
    if policy == Dataset.LabelPolicy.ALLOW_MODEL and annotation.status != Annotation.Status.REJECTED:
        return "model"
    return ""


def choose_annotation(image: GeneratedImage, annotations: list[Annotation], policy: str) -> Choice:
    best: dict[str, Annotation] = {}
    for annotation in annotations:
        source = _eligible(annotation, policy)
        if source:
            key = (annotation.submitted_at or annotation.created_at, annotation.pk)
            current = best.get(source)
            if current is None or key > (current.submitted_at or current.created_at, current.pk):
                best[source] = annotation
    for source in ("human", "model"):
        if source in best:
            return Choice(image, best[source], source)
    return Choice(image, None, "")


def selected(dataset: Dataset) -> Iterator[Choice]:
    """Every selected image with its chosen annotation, in id order, a chunk of images at a time."""
    annotations = Prefetch(
        "annotations",
        queryset=Annotation.objects.filter(is_current=True, deleted_at=None)
        .prefetch_related("masks", "regions__artifact_class"),
    )
    classes = set(dataset.classes or [])
    last_id = 0
    while True:
        chunk = list(candidate_images(dataset).filter(id__gt=last_id).prefetch_related(annotations)[:CHUNK])
        if not chunk:
            return
        last_id = chunk[-1].id
        for image in chunk:
            choice = choose_annotation(image, list(image.annotations.all()), dataset.label_policy)
            if choice.annotation is None and dataset.label_status == Dataset.LabelStatus.LABELLED:
                continue
            if classes:
                slugs = {r.artifact_class.slug for r in choice.annotation.regions.all()} if choice.annotation else set()
                if not slugs & classes:
                    continue
            yield choice
