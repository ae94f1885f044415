"""Version pages: a dataset version's items with split tabs, and the diff of two versions, through Django's test
client against page_world.py (v1 → v2: `late` added, `gone` removed, `relabel` relabelled, `moved` moved)."""

from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from backend.annotations.services import annotation_create
from datasets.models import DatasetItem
from datasets.services import dataset_version_build, dataset_version_start
from tests.conftest import png_bytes
from tests.dashboard.browse.page_world import H, W, page_world, pixels_mask  # noqa: F401  (fixture)
from tests.dashboard.html import elements
from tests.factories import make_image

pytestmark = pytest.mark.django_db

# Session, user, role, then the version (with dataset, author, parent) and one page of items with its count: 6.
MAX_VERSION_QUERIES = 6
# Session, user, role, both versions, the diff's two item lists, both sides of the rows shown: 8.
MAX_DIFF_QUERIES = 8


def _version_url(version) -> str:
    return reverse("browse:version", kwargs={"dataset_id": version.dataset_id, "number": version.number})


def _diff_url(a, b) -> str:
    return reverse("browse:diff", kwargs={"dataset_id": a.dataset_id, "a": a.number, "b": b.number})


def _cards(html) -> dict[int, str]:
    """image id → split of each item card."""
    return {int(c["data-image"]): c["data-split"] for c in elements(html, "div", **{"class": "card"})}


@pytest.fixture
def viewer(client, viewer_user):
    client.force_login(viewer_user)
    return client


def test_a_version_page_lists_its_items_with_a_tab_per_split(viewer, page_world):
    v1 = page_world["v1"]
    expected = dict(DatasetItem.objects.filter(version=v1).values_list("image_id", "split"))
    html = viewer.get(_version_url(v1)).content.decode()
    assert _cards(html) == expected and len(expected) == 5
    tabs = [t["data-split-tab"] for t in elements(html, "a") if "data-split-tab" in t]
    assert tabs == ["all", "train", "val", "test"]
    assert f"train ({v1.counts['splits']['train']})" in html and "all (5)" in html
    main = page_world["images"]["main"]
    # Each item is the gallery's thumbnail with the version's pass drawn in, and links to its image page.
    new = page_world["passes"]["new"]
    assert elements(html, "img", src=f"/browse/thumbs/{main.pk}/?pass={new.pk}")
    stable = page_world["images"]["stable"]
    stable_pass = DatasetItem.objects.get(version=v1, image=stable).annotation_id
    assert elements(html, "img", src=f"/browse/thumbs/{stable.pk}/?pass={stable_pass}")
    assert elements(html, "a", href=f"/browse/images/{main.pk}/")
    for split in {s for s in expected.values()}:
        in_split = viewer.get(_version_url(v1), {"split": split}).content.decode()
        assert _cards(in_split) == {i: s for i, s in expected.items() if s == split}
        assert elements(in_split, "a", data_split_tab=split, **{"class": "current"})


def test_version_pages_refuse_bad_parameters_and_unknown_versions(viewer, page_world):
    v1, dataset = page_world["v1"], page_world["dataset"]
    for params, name, message in ((({"split": "holdout"}), "split", "'holdout' is not a split of this version"),
                                  ({"page": "two"}, "page", "'two' is not a whole number"),
                                  ({"page": "0"}, "page", "0 is out of range"),
                                  ({"page": "9"}, "page", "9 is past the last page")):
        response = viewer.get(_version_url(v1), params)
        assert response.status_code == 400, params
        assert elements(response.content, "p", data_parameter=name)
        assert message in unescape(response.content.decode())
    assert viewer.get(f"/browse/datasets/{dataset.pk}/versions/9/").status_code == 404
    assert viewer.get("/browse/datasets/999999/versions/1/").status_code == 404
    assert viewer.get(f"/browse/datasets/{dataset.pk}/versions/1/diff/9").status_code == 404


def test_version_pages_cost_the_same_queries_whatever_the_number_of_items(viewer, page_world, admin_user):
    v1, v2 = page_world["v1"], page_world["v2"]
    bob = page_world["users"]["bob"]
    viewer.get(_version_url(v1))
    with CaptureQueriesContext(connection) as small:
        viewer.get(_version_url(v1))
    n_small = len(small)  # now: a later request outside a capture clears Django's query log
    with CaptureQueriesContext(connection) as small_diff:
        viewer.get(_diff_url(v1, v2))
    n_small_diff = len(small_diff)
    assert n_small <= MAX_VERSION_QUERIES and n_small_diff <= MAX_DIFF_QUERIES, (n_small, n_small_diff)
    generator = page_world["images"]["main"].generator
    for seed in range(40, 52):  # a dozen more labelled images: v3 has them all
        image = make_image(data=png_bytes(W, H, seed=seed), generator=generator)
        annotation_create(image=image, user=bob, lead_time=1, mask=pixels_mask(seed))
    v3 = dataset_version_build(version=dataset_version_start(dataset=page_world["dataset"], author=admin_user))
    with CaptureQueriesContext(connection) as big:
        html = viewer.get(_version_url(v3)).content.decode()
    assert len(_cards(html)) == 17
    assert len(big) == n_small, [q["sql"] for q in big.captured_queries]
    with CaptureQueriesContext(connection) as big_diff:
        html = viewer.get(_diff_url(v1, v3)).content.decode()
    assert len(elements(html, "div", **{"class": "card"})) >= 12
    assert len(big_diff) == n_small_diff, [q["sql"] for q in big_diff.captured_queries]


def test_the_diff_shows_added_removed_relabelled_and_moved_items(viewer, page_world):
    v1, v2, images, passes = page_world["v1"], page_world["v2"], page_world["images"], page_world["passes"]
    response = viewer.get(_diff_url(v1, v2))
    assert response.status_code == 200
    html = response.content.decode()
    counts = {a["data-count"]: a for a in elements(html, "a") if "data-count" in a}
    assert set(counts) == {"added", "removed", "relabelled", "moved_split"}

    def section(key):
        start = html.index(f'data-section="{key}"')
        end = html.find("<section", start)
        return html[start:end if end > 0 else None]

    def shown(key):
        return {int(e["data-image"]) for e in elements(section(key), "div") if "data-image" in e}

    assert shown("added") == {images["late"].pk}
    assert shown("removed") == {images["gone"].pk}
    assert shown("relabelled") == {images["relabel"].pk}
    assert shown("moved_split") == {images["moved"].pk}
    for key in counts:
        assert f"({len(shown(key))})" in section(key)
    # Relabelled: the old pass's mask in red (tint 0) before, the new one's in blue (tint 1) after.
    relabelled = section("relabelled")
    assert elements(relabelled, "img", src=f"/browse/annotations/{passes['relabel_old'].pk}/overlay.png?tint=0")
    assert elements(relabelled, "img", src=f"/browse/annotations/{passes['relabel_new'].pk}/overlay.png?tint=1")
    old_split = DatasetItem.objects.get(version=v1, image=images["moved"]).split
    new_split = DatasetItem.objects.get(version=v2, image=images["moved"]).split
    assert elements(section("moved_split"), "span", data_moved=f"{old_split}→{new_split}")
    gone_pass = DatasetItem.objects.get(version=v1, image=images["gone"]).annotation_id
    assert elements(section("removed"), "img", src=f"/browse/thumbs/{images['gone'].pk}/?pass={gone_pass}")
    assert elements(html, "a", href=f"/api/datasets/{v1.dataset_id}/versions/1/diff/2")


def test_a_version_page_pages_through_its_items(viewer, page_world, monkeypatch):
    monkeypatch.setattr("dashboard.browse.selectors_version.VERSION_PAGE_SIZE", 2)
    v1 = page_world["v1"]
    seen = {}
    for number in (1, 2, 3):
        html = viewer.get(_version_url(v1), {"page": number}).content.decode()
        seen.update(_cards(html))
        assert bool(elements(html, "a", id="page-next")) == (number < 3)
        assert bool(elements(html, "a", id="page-previous")) == (number > 1)
    assert seen == dict(DatasetItem.objects.filter(version=v1).values_list("image_id", "split"))
    assert elements(viewer.get(_version_url(v1)).content, "a", id="page-next", href=_version_url(v1) + "?page=2")
