"""Which images a dataset selects, which annotation stands for each (the label policy), which group each is in.

The selection is one SQL statement read through a server-side cursor in image content-hash order: the label
policy picks each image's pass with a window (ROW_NUMBER per image), and the chosen pass's first mask comes
along as a column; regions follow with one query per batch. No model instance per image: a snapshot of a
million images is rows streamed, not objects built.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection, transaction

from backend.annotations.models import Annotation, MaskLabel, RegionLabel
from backend.images.models import GeneratedImage, Generator, SynthesisTask
from backend.taxonomy.models import ArtifactClass
from datasets.models import Dataset, DatasetItem, DatasetVersion
from datasets.splits import global_split, group_hash, validate_shares

CHUNK = 5000  # rows per FETCH from the server-side cursor
IDS_CHUNK = 500  # ids per IN list


@dataclass(frozen=True)
class Selection:
    """What a dataset (or a benchmark scope) selects: candidate filters and the label policy."""
    generator_ids: tuple[int, ...] = ()
    task_ids: tuple[int, ...] = ()
    created_after: datetime | None = None
    created_before: datetime | None = None
    label_policy: str = Dataset.LabelPolicy.LATEST_HUMAN
    labelled_only: bool = True
    classes: frozenset[str] = frozenset()

    @classmethod
    def of(cls, dataset: Dataset) -> "Selection":
        return cls(
            generator_ids=tuple(dataset.generators.values_list("id", flat=True)),
            task_ids=tuple(dataset.tasks.values_list("id", flat=True)),
            created_after=dataset.created_after, created_before=dataset.created_before,
            label_policy=dataset.label_policy, labelled_only=dataset.label_status == Dataset.LabelStatus.LABELLED,
            classes=frozenset(dataset.classes or ()),
        )


@dataclass(slots=True)
class SelectedImage:
    """A selected image's columns and its chosen pass (annotation_id None and source "" when it has none).
    Quacks like a GeneratedImage for `group_sources` and `group_value` (pk, fixed_from_id, prompt, seed,
    source_uri, blob_id, generator)."""
    pk: int
    blob_id: str
    generator_id: int
    task_id: int
    fixed_from_id: int | None
    prompt: str
    seed: int | None
    source_uri: str
    annotation_id: int | None
    source: str  # "human", "model" or ""
    no_artifacts: bool
    mask_sha256: str
    regions: list[dict]
    generator: Generator | None = field(default=None, repr=False)
    task: SynthesisTask | None = field(default=None, repr=False)


def _statement(selection: Selection) -> tuple[str, list]:
    """The selection as one SQL statement (PostgreSQL and the demo's SQLite): candidate images in content-hash
    order, each with its chosen pass and that pass's first mask."""
    image, annotation, mask = GeneratedImage._meta.db_table, Annotation._meta.db_table, MaskLabel._meta.db_table
    where, params = ["TRUE"], []
    for column, values in (("generator_id", selection.generator_ids), ("task_id", selection.task_ids)):
        if values:
            where.append(f"i.{column} IN ({', '.join(['%s'] * len(values))})")
            params += values
    if selection.created_after:
        where.append("i.created_at >= %s")
        params.append(selection.created_after)
    if selection.created_before:
        where.append("i.created_at < %s")
        params.append(selection.created_before)
    # The label policy: a human pass counts when submitted or reviewed (reviewed only under reviewed_only); a
    # model pass only under allow_model and unless rejected. Human before model; within a source the newest
    # (submitted, else created), then the highest id.
    human = [Annotation.Status.REVIEWED] if selection.label_policy == Dataset.LabelPolicy.REVIEWED_ONLY \
        else [Annotation.Status.SUBMITTED, Annotation.Status.REVIEWED]
    eligible = f"(a.user_id IS NOT NULL AND a.status IN ({', '.join(['%s'] * len(human))}))"
    params += human
    if selection.label_policy == Dataset.LabelPolicy.ALLOW_MODEL:
        eligible += " OR (a.user_id IS NULL AND a.status <> %s)"
        params.append(Annotation.Status.REJECTED)
    sql = f"""
        WITH candidates AS (
            SELECT i.id, i.blob_id, i.generator_id, i.task_id, i.fixed_from_id, i.prompt, i.seed, i.source_uri
            FROM {image} i WHERE {" AND ".join(where)}
        ), ranked AS (
            SELECT a.image_id, a.id, a.user_id IS NOT NULL AS human, a.no_artifacts,
                   ROW_NUMBER() OVER (PARTITION BY a.image_id ORDER BY a.user_id IS NOT NULL DESC,
                                      COALESCE(a.submitted_at, a.created_at) DESC, a.id DESC) AS rank
            FROM {annotation} a JOIN candidates c ON c.id = a.image_id
            WHERE a.is_current AND a.deleted_at IS NULL AND ({eligible})
        )
        SELECT c.id, c.blob_id, c.generator_id, c.task_id, c.fixed_from_id, c.prompt, c.seed, c.source_uri,
               ch.id, ch.human, ch.no_artifacts,
               (SELECT m.blob_id FROM {mask} m WHERE m.annotation_id = ch.id ORDER BY m.id LIMIT 1)
        FROM candidates c
        {"JOIN" if selection.labelled_only else "LEFT JOIN"} ranked ch ON ch.image_id = c.id AND ch.rank = 1
        ORDER BY c.blob_id"""
    return sql, params


def _regions(annotation_ids: list[int], classes: dict[int, ArtifactClass]) -> dict[int, list[dict]]:
    """Annotation id → its regions (box, class slug and code, caption) in id order, for a batch of annotations."""
    if not annotation_ids:
        return {}
    # One array parameter on PostgreSQL: an IN list of thousands of parameters costs more to build and parse
    # than the rows it returns. SQLite has no arrays: an IN list (up to CHUNK parameters; SQLite >= 3.32 allows
    # 32766).
    if connection.vendor == "postgresql":
        where, params = "annotation_id = ANY(%s)", [annotation_ids]
    else:
        where, params = f"annotation_id IN ({', '.join(['%s'] * len(annotation_ids))})", annotation_ids
    regions: dict[int, list[dict]] = {}
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT annotation_id, x1, y1, x2, y2, artifact_class_id, caption "
                       f"FROM {RegionLabel._meta.db_table} WHERE {where} ORDER BY id", params)
        for annotation_id, x1, y1, x2, y2, class_id, caption in cursor.fetchall():
            klass = classes[class_id]
            regions.setdefault(annotation_id, []).append(
                {"bbox": [x1, y1, x2, y2], "class": klass.slug, "code": klass.code, "caption": caption})
    return regions


def selected(selection: Selection) -> Iterator[list[SelectedImage]]:
    """Every image `selection` selects with its chosen pass, in content-hash (`blob_id`) order, streamed a batch
    (of at most CHUNK) at a time. Call inside a transaction: the server-side cursor then streams (in autocommit
    PostgreSQL materialises a WITH HOLD cursor's whole result first). Regions and fix sources are read by later
    statements, so under READ COMMITTED a pass stored meanwhile can show in them."""
    sql, params = _statement(selection)
    generators, tasks = Generator.objects.in_bulk(), SynthesisTask.objects.in_bulk()
    classes = ArtifactClass.objects.in_bulk()
    with connection.chunked_cursor() as cursor:  # server-side on PostgreSQL: rows arrive as they are read
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(CHUNK):
            if any(row[2] not in generators or row[3] not in tasks for row in rows):  # made after the look-ups
                generators, tasks = Generator.objects.in_bulk(), SynthesisTask.objects.in_bulk()
            try:
                regions = _regions([row[8] for row in rows if row[8] is not None], classes)
            except KeyError:  # a class made after the look-up (a new taxonomy version)
                classes = ArtifactClass.objects.in_bulk()
                regions = _regions([row[8] for row in rows if row[8] is not None], classes)
            batch = []
            for (pk, sha, generator_id, task_id, fixed_from_id, prompt, seed, source_uri, annotation_id, human,
                 no_artifacts, mask_sha) in rows:
                chosen_regions = regions.get(annotation_id, [])
                if selection.classes and not selection.classes.intersection(r["class"] for r in chosen_regions):
                    continue
                batch.append(SelectedImage(
                    pk=pk, blob_id=sha, generator_id=generator_id, task_id=task_id, fixed_from_id=fixed_from_id,
                    prompt=prompt, seed=seed, source_uri=source_uri, annotation_id=annotation_id,
                    source="" if annotation_id is None else "human" if human else "model",
                    no_artifacts=bool(no_artifacts), mask_sha256=mask_sha or "", regions=chosen_regions,
                    generator=generators[generator_id], task=tasks[task_id],
                ))
            yield batch


def group_sources(images: list) -> dict[int, GeneratedImage]:
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


def group_value(image: GeneratedImage | SelectedImage, group_key: str) -> str:
    """The value whose hash names the image's group under `group_key` (pass the image's group source)."""
    if group_key == Dataset.GroupKey.PROMPT and image.prompt.strip():
        return "prompt:" + " ".join(image.prompt.lower().split())
    if group_key == Dataset.GroupKey.SEED and image.seed is not None:
        return f"seed:{image.generator.name}:{image.generator.version}:{image.seed}"
    if group_key == Dataset.GroupKey.SOURCE and image.source_uri:
        return "source:" + image.source_uri
    return "image:" + image.blob_id  # content, not ids: the same set splits the same on any instance


def group_hashes(images: list[SelectedImage | GeneratedImage], group_key: str) -> dict[int, str]:
    """Image id → its group's hash (`group_hash` of the group source's `group_value`), for a batch of images."""
    sources = group_sources([image for image in images if image.fixed_from_id])
    return {image.pk: group_hash(group_value(sources.get(image.pk, image), group_key)) for image in images}


def split_disagreements(*, dataset: Dataset, seed: str, limit: int) -> dict:
    """Items of existing versions (of any dataset) whose image `dataset` selects under another split than the
    one they hold there: {"count", "train_test" (train on one side, test on the other), "items" (first `limit`
    by image sha256)}. Zero when every version was built with global splits, this seed and the same group key
    and shares; old versions keep their splits (they are immutable), so this is where they show."""
    shares = validate_shares(dataset.splits)
    here: dict[int, str] = {}
    with transaction.atomic():  # the selection streams inside a transaction (see `selected`)
        for batch in selected(Selection.of(dataset)):
            groups = group_hashes(batch, dataset.group_key)
            here.update((pk, global_split(group, shares=shares, seed=seed)) for pk, group in groups.items())
    found, ids = [], sorted(here)
    for start in range(0, len(ids), IDS_CHUNK):
        found += DatasetItem.objects.filter(
            image_id__in=ids[start:start + IDS_CHUNK], version__status=DatasetVersion.Status.READY,
        ).values_list("image_id", "image_sha256", "split", "version__dataset__name", "version__number")
    differing = sorted((sha, image_id, split, name, number) for image_id, sha, split, name, number in found
                       if split != here[image_id])
    return {
        "count": len(differing),
        "train_test": sum(1 for _, image_id, split, _, _ in differing if {split, here[image_id]} == {"train", "test"}),
        "items": [{"image_id": image_id, "image_sha256": sha, "version": f"{name}@v{number}", "split": split,
                   "split_here": here[image_id]} for sha, image_id, split, name, number in differing[:limit]],
    }
