"""Version pages: a dataset version's items as a gallery with a tab per split, and the diff of two versions
(added / removed / relabelled / moved) with before/after overlays for relabelled items."""

from __future__ import annotations

from django.core.paginator import EmptyPage
from django.http import Http404
from django.urls import reverse

from dashboard.browse.overlays import box_style
from dashboard.browse.page_common import (
    BadParameter,
    bad_request,
    image_file_url,
    image_page_url,
    int_param,
    overlay_url,
    page,
    thumbnail_url,
)
from dashboard.browse.selectors_version import (
    DIFF_SECTIONS,
    DIFF_SHOWN,
    version_diff_rows,
    version_item_page,
    version_splits,
    version_with_dataset_get,
)
from dashboard.views import dashboard_page

# The tint of "before" and "after" overlays (indices into overlays.TINTS): red before, blue after.
BEFORE_TINT, AFTER_TINT = 0, 1
SECTION_TITLES = {"added": "Added", "removed": "Removed", "relabelled": "Relabelled", "moved_split": "Moved split"}


def _version_or_404(dataset_id: int, number: int):
    version = version_with_dataset_get(dataset_id=dataset_id, number=number)
    if version is None:
        raise Http404(f"dataset {dataset_id} has no complete version {number}")
    return version


def _label_view(*, annotation_id, mask_sha256: str, regions: list[dict], width: int, height: int, tint: int) -> dict:
    """An item's label drawn over its image: the mask's overlay (when it has one) and the boxes."""
    return {
        "overlay_url": overlay_url(annotation_id, tint) if annotation_id and mask_sha256 else None,
        "boxes": [{"code": r.get("code", ""), "slug": r.get("class", ""), "caption": r.get("caption", ""),
                   "style": box_style(r["bbox"], width=width, height=height)} for r in regions],
    }


@dashboard_page
def version_page(request, dataset_id: int, number: int):
    version = _version_or_404(dataset_id, number)
    splits = version_splits(version)
    split = request.GET.get("split", "")
    try:
        if split and split not in splits:
            raise BadParameter("split", f"{split!r} is not a split of this version (it has {', '.join(splits)})")
        page_number = int_param(request.GET, "page", default=1, minimum=1)
        items = version_item_page(version=version, split=split or None, page=page_number)
    except BadParameter as error:
        return bad_request(request, error)
    except EmptyPage:
        return bad_request(request, BadParameter("page", f"{page_number} is past the last page"))
    # Each item as the gallery's cached thumbnail with the version's pass drawn in (made once, then a 304).
    cards = [{
        "image_id": item.image_id, "sha": item.image_sha256, "split": item.split, "source": item.label_source,
        "par": item.image.par, "url": image_page_url(item.image_id),
        "thumbnail_url": thumbnail_url(item.image_id, item.annotation_id),
    } for item in items]
    here = reverse("browse:version", kwargs={"dataset_id": dataset_id, "number": number})
    total = sum(n or 0 for n in splits.values())
    tabs = [{"name": "all", "split": "", "n": total}] + [{"name": name, "split": name, "n": n}
                                                        for name, n in splits.items()]
    return page(request, "version.html", version=version, dataset=version.dataset, cards=cards, items=items,
                split=split, tabs=tabs, here=here)


def _side_view(row, side, tint: int) -> dict | None:
    if side is None:
        return None
    return {"split": side.split, "source": side.label_source or "none", "annotation_id": side.annotation_id,
            "thumbnail_url": thumbnail_url(row.image_id, side.annotation_id),
            **_label_view(annotation_id=side.annotation_id, mask_sha256=side.mask_sha256, regions=side.regions,
                          width=row.width, height=row.height, tint=tint)}


@dashboard_page
def version_diff_page(request, dataset_id: int, a: int, b: int):
    older, newer = _version_or_404(dataset_id, a), _version_or_404(dataset_id, b)
    diff = version_diff_rows(a=older, b=newer)
    sections = [{
        "key": key, "title": SECTION_TITLES[key], "n": diff["counts"][key],
        "rows": [{"image_id": row.image_id, "sha": row.image_sha256, "url": image_page_url(row.image_id),
                  "file_url": image_file_url(row.image_id), "before": _side_view(row, row.before, BEFORE_TINT),
                  "after": _side_view(row, row.after, AFTER_TINT)} for row in diff[key]],
    } for key in DIFF_SECTIONS]
    return page(request, "diff.html", dataset=older.dataset, older=older, newer=newer, sections=sections,
                shown=DIFF_SHOWN,
                api_url=reverse("dataset-version-diff", kwargs={"dataset_id": dataset_id, "a": a, "b": b}))
