"""Writes for datasets: create a dataset, snapshot it into an immutable version, request an export."""

import hashlib
import json
from collections import Counter
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Max, QuerySet
from django.utils import timezone

from backend.core.exceptions import ApplicationError
from backend.images.locks import images_pin
from backend.jobs.services import job_create
from backend.taxonomy.models import ArtifactClass
from datasets.export_paths import export_path_inside
from datasets.exporters import EXPORTERS
from datasets.models import (
    DATASET_NAME_MAX_LENGTH,
    DEFAULT_SPLITS,
    Dataset,
    DatasetItem,
    DatasetVersion,
    Export,
    dataset_name_validator,
)
from datasets.selection import Selection, group_hashes, selected
from datasets.selectors import models_trained_on
from datasets.splits import global_split, share_deviation, split_report, validate_shares

ITEM_BATCH = 1000
# A version's counts list at most this many items that kept a split other than their global one (the count is
# exact): counts travel with every version in the API's lists.
SPLIT_DIFFERS_LISTED = 100


def dataset_name_check(name: str) -> str:
    """`name` if it is a slug of at most DATASET_NAME_MAX_LENGTH characters; ApplicationError saying why not."""
    if not name:
        raise ApplicationError("a dataset needs a name")
    if len(name) > DATASET_NAME_MAX_LENGTH:
        raise ApplicationError(f"dataset name is {len(name)} characters; at most {DATASET_NAME_MAX_LENGTH}")
    try:
        dataset_name_validator(name)
    except ValidationError as exc:
        raise ApplicationError(f"{name!r}: {exc.messages[0]}") from exc
    return name


@transaction.atomic
def dataset_create(*, name: str, description: str = "", generators=(), tasks=(), created_after=None,
                   created_before=None, label_status: str = Dataset.LabelStatus.LABELLED, classes=(),
                   label_policy: str = Dataset.LabelPolicy.LATEST_HUMAN, group_key: str = Dataset.GroupKey.IMAGE,
                   splits: dict | None = None, created_by=None) -> Dataset:
    dataset_name_check(name)
    if Dataset.objects.filter(name=name).exists():
        raise ApplicationError(f"dataset {name!r} already exists")
    try:
        shares = validate_shares(splits or DEFAULT_SPLITS)
    except ValueError as exc:
        raise ApplicationError(str(exc)) from exc
    unknown = set(classes) - set(ArtifactClass.objects.filter(slug__in=classes).values_list("slug", flat=True))
    if unknown:
        raise ApplicationError(f"unknown artifact class(es): {', '.join(sorted(unknown))}")
    dataset = Dataset.objects.create(
        name=name, description=description, created_after=created_after, created_before=created_before,
        label_status=label_status, classes=sorted(set(classes)), label_policy=label_policy, group_key=group_key,
        splits=shares, created_by=created_by,
    )
    dataset.generators.set(generators)
    dataset.tasks.set(tasks)
    return dataset


def regions_json(regions: list[dict]) -> str:
    return json.dumps(regions, sort_keys=True) if regions else "[]"


def manifest_line(*, image_sha256: str, annotation_id: int | None, label_source: str, mask_sha256: str,
                  regions_text: str, split: str) -> str:
    """One item's line in the manifest whose sha256 is the version's `manifest_hash` (lines in image sha order):
    json.dumps([image_sha256, annotation_id, label_source, mask_sha256, regions, split], sort_keys=True), byte
    for byte, with the regions already serialised by `regions_json` (the items' column stores the same text).
    Put together by hand because every other field is a hex digest, an id or a fixed word: nothing to escape,
    and one json.dumps per item instead of two."""
    annotation = "null" if annotation_id is None else str(int(annotation_id))
    return f'["{image_sha256}", {annotation}, "{label_source}", "{mask_sha256}", {regions_text}, "{split}"]'


@transaction.atomic
def dataset_version_start(*, dataset: Dataset, author=None, note: str = "") -> DatasetVersion:
    """Reserve the next version number; the version is not listed until `dataset_version_build` finishes."""
    dataset = Dataset.objects.select_for_update().get(pk=dataset.pk)
    number = (dataset.versions.aggregate(n=Max("number"))["n"] or 0) + 1
    parent = dataset.versions.filter(status=DatasetVersion.Status.READY).order_by("-number").first()
    return DatasetVersion.objects.create(dataset=dataset, number=number, parent=parent, author=author, note=note)


@transaction.atomic
def dataset_version_snapshot(*, dataset: Dataset, author=None, note: str = "") -> DatasetVersion:
    """Reserve the next version and queue the `dataset_version_build` job (queue io) that fills it."""
    version = dataset_version_start(dataset=dataset, author=author, note=note)
    job_create(kind="dataset_version_build", params={"version_id": version.pk, "dataset_id": dataset.pk},
               created_by=author)
    return version


def dataset_version_build(*, version: DatasetVersion) -> DatasetVersion:
    """Fill a reserved version in one transaction. On any failure the version row is removed too."""
    try:
        with transaction.atomic():
            version = DatasetVersion.objects.select_for_update(of=("self",)).select_related("dataset", "parent").get(
                pk=version.pk)
            if version.status != DatasetVersion.Status.BUILDING:
                return version  # already built: the job ran twice
            _build(version)
            return version
    except Exception:
        DatasetVersion.objects.filter(pk=version.pk, status=DatasetVersion.Status.BUILDING).delete()
        raise


def _build(version: DatasetVersion) -> None:
    """Stream the selection (in image sha order), give each item its split, write the items with COPY a batch at
    a time and hash the manifest on the way: no model instance per item, memory bounded by the parent's splits."""
    dataset = version.dataset
    shares = validate_shares(dataset.splits)  # in train, val, test order (jsonb keeps its own key order)
    seed = settings.FLAWMAP_SPLIT_SEED
    # Versions are immutable and a model's test set must not change under it: an item already in the parent
    # keeps the parent's split even where it differs from its global one (an older seed or split rule); those
    # are counted and listed. Every other item gets its global split.
    inherited = dict(version.parent.items.values_list("image_id", "split")) if version.parent_id else {}
    images_pin()  # the items point at images and annotations without a database check: none goes meanwhile
    digest = hashlib.sha256()
    splits, sources, by_generator, by_task = Counter(), Counter(), Counter(), Counter()
    differs, differs_listed = 0, []
    for batch in selected(Selection.of(dataset)):
        groups = group_hashes(batch, dataset.group_key)
        rows = []
        for image in batch:
            group = groups[image.pk]
            global_ = global_split(group, shares=shares, seed=seed)
            split = inherited.get(image.pk, global_)
            if split != global_:
                differs += 1
                if len(differs_listed) < SPLIT_DIFFERS_LISTED:
                    differs_listed.append({"image_id": image.pk, "image_sha256": image.blob_id, "split": split,
                                           "global_split": global_})
            regions = regions_json(image.regions)
            digest.update(manifest_line(
                image_sha256=image.blob_id, annotation_id=image.annotation_id, label_source=image.source,
                mask_sha256=image.mask_sha256, regions_text=regions, split=split).encode() + b"\n")
            splits[split] += 1
            sources[image.source] += 1
            by_generator[str(image.generator), split] += 1
            by_task[image.task.slug, split] += 1
            rows.append((version.pk, image.pk, image.blob_id, image.annotation_id, image.source, image.mask_sha256,
                         regions, split, group))
        if rows:
            _items_write(rows)
    split_counts = {name: splits[name] for name in shares}
    version.counts = {
        "items": sum(splits.values()),
        "splits": split_counts,
        "split_deviation": share_deviation(split_counts, shares),
        "split_differs": {"count": differs, "items": differs_listed},
        "label_sources": {s: sources[s] for s in ("human", "model", "")},
        "by_generator": split_report(by_generator),
        "by_task": split_report(by_task),
    }
    version.manifest_hash = digest.hexdigest()
    version.status = DatasetVersion.Status.READY
    version.save(update_fields=["counts", "manifest_hash", "status"])


ITEM_COLUMNS = ("version_id", "image_id", "image_sha256", "annotation_id", "label_source", "mask_sha256", "regions",
                "split", "group")


def _items_write(rows: list[tuple]) -> None:
    """Insert DatasetItem rows (ITEM_COLUMNS order, regions as JSON text): COPY on PostgreSQL, bulk_create on the
    demo's SQLite."""
    if connection.vendor != "postgresql":
        DatasetItem.objects.bulk_create([DatasetItem(**{**dict(zip(ITEM_COLUMNS, row)), "regions": json.loads(row[6])})
                                         for row in rows], batch_size=ITEM_BATCH)
        return
    columns = ", ".join(connection.ops.quote_name(c) for c in ITEM_COLUMNS)
    with connection.cursor() as cursor, cursor.cursor.copy(
            f"COPY {DatasetItem._meta.db_table} ({columns}) FROM STDIN") as copy:
        copy.write("".join(map(_copy_line, rows)))


def _copy_line(row: tuple) -> str:
    """A row in COPY's text format, written here rather than adapted value by value by psycopg (the larger cost
    at a million items). Tab-separated, \\N for NULL, backslashes doubled; every field is an id, a hex digest, a
    fixed word or ASCII JSON (json.dumps escapes tabs, newlines and non-ASCII), so a backslash is the one
    character to escape."""
    version_id, image_id, sha, annotation_id, source, mask, regions, split, group = row
    annotation = "\\N" if annotation_id is None else str(annotation_id)
    regions = regions.replace("\\", "\\\\")
    return f"{version_id}\t{image_id}\t{sha}\t{annotation}\t{source}\t{mask}\t{regions}\t{split}\t{group}\n"


def dataset_version_delete(*, version: DatasetVersion) -> None:
    trained = models_trained_on(version=version)
    if trained.exists():
        names = ", ".join(str(m) for m in trained[:5])
        raise ApplicationError(f"{version} is referenced by model version(s) {names}; it can't be deleted")
    if version.children.exists():
        raise ApplicationError(f"{version} is the parent of a later version; delete that first")
    version.delete()


def dataset_versions_abandoned_delete(*, older_than: timedelta = timedelta(hours=6)) -> int:
    """Remove versions still "building" long after they started (their job's worker died mid-build)."""
    return dataset_versions_building_delete(versions=DatasetVersion.objects.filter(
        created_at__lt=timezone.now() - older_than))


@transaction.atomic
def dataset_versions_building_delete(*, versions: QuerySet[DatasetVersion]) -> int:
    """Delete those of `versions` still "building" that no live build holds. A live build keeps its version's
    row locked (dataset_version_build) and is skipped: deleting it would wait, then remove the version it just
    made ready and leave its items behind (they point at it without a database constraint)."""
    ids = list(versions.filter(status=DatasetVersion.Status.BUILDING).select_for_update(skip_locked=True)
               .values_list("pk", flat=True))
    DatasetVersion.objects.filter(pk__in=ids).delete()
    return len(ids)


@transaction.atomic
def export_request(*, version: DatasetVersion, fmt: str, requested_by=None) -> Export:
    """Queue a `dataset_export` job (queue io) that writes the version as a .tar.gz under FLAWMAP_EXPORT_DIR."""
    if fmt not in EXPORTERS:
        raise ApplicationError(f"unknown export format {fmt!r}; known: {', '.join(sorted(EXPORTERS))}")
    if version.status != DatasetVersion.Status.READY:
        raise ApplicationError(f"{version} is still {version.status}; export it once it is ready")
    export = Export.objects.create(version=version, format=fmt, requested_by=requested_by)
    name = f"{version.dataset.name}-v{version.number}-{fmt}-{export.pk}.tar.gz"
    export_path_inside(name)  # refused here, not later on the worker
    # The bare name: the worker that runs the job writes under its own FLAWMAP_EXPORT_DIR (hosts share no folder).
    export.job, _ = job_create(kind="dataset_export", created_by=requested_by, params={
        "export_id": export.pk, "out": name})
    export.save(update_fields=["job"])
    return export
