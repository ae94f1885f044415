"""Reads for the version pages: a dataset version's items by split, and what changed between two versions.

The diff itself is datasets' own (version_diff, behind the API's dataset-version-diff); this adds, for the rows
shown, each side's label (pass, mask, boxes) and split, in one more query."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.paginator import Page, Paginator

from datasets.models import DEFAULT_SPLITS, DatasetItem, DatasetVersion
from datasets.selectors import version_diff

VERSION_PAGE_SIZE = 100
DIFF_SHOWN = 200  # rows drawn per diff section; the counts are always complete
DIFF_SECTIONS = ("added", "removed", "relabelled", "moved_split")


def version_with_dataset_get(*, dataset_id: int, number: int) -> DatasetVersion | None:
    """A complete version of this dataset, with its dataset, author and parent."""
    return (DatasetVersion.objects.select_related("dataset", "author", "parent")
            .filter(dataset_id=dataset_id, number=number, status=DatasetVersion.Status.READY).first())


def version_splits(version: DatasetVersion) -> dict[str, int | None]:
    """Split name → items, as the build counted them (no query); train, val, test first, others by name (a JSON
    column keeps no key order)."""
    counts = (version.counts or {}).get("splits") or {name: None for name in version.dataset.splits}
    known = [name for name in DEFAULT_SPLITS if name in counts]
    return {name: counts[name] for name in known + sorted(set(counts) - set(known))}


def version_item_page(*, version: DatasetVersion, split: str | None, page: int) -> Page:
    """One page of the version's items (by image content hash, as the API lists them), with their image's size
    and PAR. A page past the end is the caller's to refuse: Paginator.validate_number raises."""
    items = (DatasetItem.objects.filter(version=version).select_related("image")
             .only("id", "version_id", "image_id", "image_sha256", "annotation_id", "label_source", "mask_sha256",
                   "regions", "split", "image__id", "image__width", "image__height", "image__par")
             .order_by("image_sha256"))
    if split:
        items = items.filter(split=split)
    return Paginator(items, VERSION_PAGE_SIZE).page(page)


@dataclass(frozen=True)
class Side:
    """One version's label of an image: the pass it took, its mask (blank: none) and boxes, and the split."""

    annotation_id: int | None
    label_source: str
    mask_sha256: str
    regions: list[dict]
    split: str


@dataclass(frozen=True)
class DiffRow:
    image_id: int
    image_sha256: str
    width: int
    height: int
    before: Side | None  # None: not in the older version (added)
    after: Side | None  # None: not in the newer version (removed)


def version_diff_rows(*, a: DatasetVersion, b: DatasetVersion) -> dict:
    """{"counts": {section: n}, section: [DiffRow] (the first DIFF_SHOWN of each)} from a to b."""
    diff = version_diff(a=a, b=b)
    shown = {section: [row["image_sha256"] for row in diff[section][:DIFF_SHOWN]] for section in DIFF_SECTIONS}
    wanted = {sha for shas in shown.values() for sha in shas}
    sides: dict[tuple[int, str], Side] = {}
    sizes: dict[str, tuple[int, int, int]] = {}
    rows = (DatasetItem.objects.filter(version__in=(a, b), image_sha256__in=wanted)
            .values_list("version_id", "image_sha256", "annotation_id", "label_source", "mask_sha256", "regions",
                         "split", "image_id", "image__width", "image__height"))
    for version_id, sha, annotation_id, source, mask, regions, split, image_id, width, height in rows:
        sides[(version_id, sha)] = Side(annotation_id, source, mask, regions or [], split)
        sizes[sha] = (image_id, width, height)

    def row(sha: str) -> DiffRow:
        image_id, width, height = sizes[sha]
        return DiffRow(image_id=image_id, image_sha256=sha, width=width, height=height,
                       before=sides.get((a.pk, sha)), after=sides.get((b.pk, sha)))

    return {"counts": diff["counts"], **{section: [row(sha) for sha in shas] for section, shas in shown.items()}}
