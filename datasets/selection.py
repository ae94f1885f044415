"""Which images a dataset selects, which annotation stands for each (the label policy), which group each is in."""

from collections.abc import Iterator
from dataclasses import dataclass

from django.db.models import Prefetch, QuerySet, prefetch_related_objects

from backend.annotations.models import Annotation, MaskLabel, RegionLabel
from backend.images.models import GeneratedImage
from datasets.models import Dataset, DatasetItem, DatasetVersion
from datasets.splits import global_split, group_hash, validate_shares

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
    """Every selected image with its chosen annotation, in id order, a chunk of images at a time. The chosen
    annotation carries its masks and regions as lists, `chosen_masks` and `chosen_regions`.

    Only the chosen annotations' masks and regions are read, into plain lists (Prefetch to_attr): prefetching
    them through the related managers built a queryset per annotation, which cost more than the rows."""
    annotations = Prefetch("annotations", queryset=Annotation.objects.filter(is_current=True, deleted_at=None),
                           to_attr="current_passes")
    classes = set(dataset.classes or [])
    last_id = 0
    while True:
        chunk = list(candidate_images(dataset).filter(id__gt=last_id).prefetch_related(annotations)[:CHUNK])
        if not chunk:
            return
        last_id = chunk[-1].id
        choices = [choose_annotation(image, image.current_passes, dataset.label_policy) for image in chunk]
        prefetch_related_objects(
            [c.annotation for c in choices if c.annotation is not None],
            Prefetch("masks", queryset=MaskLabel.objects.order_by("id"), to_attr="chosen_masks"),
            Prefetch("regions", queryset=RegionLabel.objects.select_related("artifact_class").order_by("id"),
                     to_attr="chosen_regions"),
        )
        for choice in choices:
            if choice.annotation is None and dataset.label_status == Dataset.LabelStatus.LABELLED:
                continue
            if classes:
                regions = choice.annotation.chosen_regions if choice.annotation else []
                slugs = {r.artifact_class.slug for r in regions}
                if not slugs & classes:
                    continue
            yield choice


def group_sources(images: list[GeneratedImage]) -> dict[int, GeneratedImage]:
    """Image id → the image whose group it joins: a fixed image's source (`fixed_from`, followed to the first
    image that is not a fix), else itself. A fix and its source are near-duplicates: one split for both."""
    source = {image.pk: image for image in images}
    pending = {image.pk: image.fixed_from_id for image in images if image.fixed_from_id}
    seen = {pk: {pk, parent} for pk, parent in pending.items()}  # a cycle of fixes ends where it started
    while pending:
        parents = GeneratedImage.objects.select_related("generator").in_bulk(set(pending.values()))
        step = {}
        for pk, parent_id in pending.items():
            parent = parents.get(parent_id)
            if parent is None:  # deleted meanwhile (fixed_from is SET_NULL): the last one found is the source
                continue
            source[pk] = parent
            if parent.fixed_from_id and parent.fixed_from_id not in seen[pk]:
                seen[pk].add(parent.fixed_from_id)
                step[pk] = parent.fixed_from_id
        pending = step
    return source


def group_value(image: GeneratedImage, group_key: str) -> str:
    """The value whose hash names the image's group under `group_key` (pass the image's group source)."""
    if group_key == Dataset.GroupKey.PROMPT and image.prompt.strip():
        return "prompt:" + " ".join(image.prompt.lower().split())
    if group_key == Dataset.GroupKey.SEED and image.seed is not None:
        return f"seed:{image.generator.name}:{image.generator.version}:{image.seed}"
    if group_key == Dataset.GroupKey.SOURCE and image.source_uri:
        return "source:" + image.source_uri
    return "image:" + image.blob_id  # content, not ids: the same set splits the same on any instance


def split_disagreements(*, dataset: Dataset, seed: str, limit: int) -> dict:
    """Items of existing versions (of any dataset) whose image `dataset` selects under another split than the
    one they hold there: {"count", "train_test" (train on one side, test on the other), "items" (first `limit`
    by image sha256)}. Zero when every version was built with global splits, this seed and the same group key
    and shares; old versions keep their splits (they are immutable), so this is where they show."""
    choices = list(selected(dataset))
    sources = group_sources([choice.image for choice in choices])
    shares = validate_shares(dataset.splits)
    here = {choice.image.pk: global_split(group_hash(group_value(sources[choice.image.pk], dataset.group_key)),
                                          shares=shares, seed=seed) for choice in choices}
    found, ids = [], sorted(here)
    for start in range(0, len(ids), CHUNK):
        found += DatasetItem.objects.filter(
            image_id__in=ids[start:start + CHUNK], version__status=DatasetVersion.Status.READY,
        ).values_list("image_id", "image_sha256", "split", "version__dataset__name", "version__number")
    differing = sorted((sha, image_id, split, name, number) for image_id, sha, split, name, number in found
                       if split != here[image_id])
    return {
        "count": len(differing),
        "train_test": sum(1 for _, image_id, split, _, _ in differing if {split, here[image_id]} == {"train", "test"}),
        "items": [{"image_id": image_id, "image_sha256": sha, "version": f"{name}@v{number}", "split": split,
                   "split_here": here[image_id]} for sha, image_id, split, name, number in differing[:limit]],
    }
