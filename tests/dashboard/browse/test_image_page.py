"""The image page (/browse/images/<id>/), each pass's overlay PNG and the "mark passes reviewed" action, through
Django's test client against the hand-made world of page_world.py."""

import io
from html import unescape

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from PIL import Image

from backend.analytics.labeling_time import counted_passes
from backend.annotations.models import Annotation
from backend.annotations.services import annotation_create, region_inputs
from backend.taxonomy.selectors import artifact_class_list
from datasets.models import DatasetItem
from datasets.services import dataset_create, dataset_version_build, dataset_version_start
from tests.conftest import _user
from tests.dashboard.browse.page_world import LS_TASK_ID, page_world, rect_mask  # noqa: F401  (fixture)
from tests.dashboard.html import elements

pytestmark = pytest.mark.django_db

# Session, user, role; then the image (with conditional inputs and fixes), its passes (users and models, masks,
# regions with their classes), dataset items, Label Studio tasks and the two neighbours: 13 today.
MAX_QUERIES = 13


def _url(image) -> str:
    return reverse("browse:image", kwargs={"image_id": image.pk})


def _having(html, tag: str, attr: str) -> list[dict]:
    return [e for e in elements(html, tag) if attr in e]


def _get(client, user, url, **params):
    client.force_login(user)
    return client.get(url, params)


def test_the_page_shows_every_pass_with_its_overlay_boxes_and_regions(client, viewer_user, page_world, settings):
    settings.LABEL_STUDIO_URL = "http://ls.example:8080"
    main, passes = page_world["images"]["main"], page_world["passes"]
    response = _get(client, viewer_user, _url(main))
    assert response.status_code == 200
    html = response.content.decode()
    cards = _having(html, "article", "data-pass-card")
    assert {c["data-pass-card"]: (c["data-source"], c["data-status"], c["data-current"]) for c in cards} == {
        str(passes["old"].pk): ("human", "submitted", "false"),
        str(passes["new"].pk): ("human", "submitted", "true"),
        str(passes["model"].pk): ("model", "submitted", "true"),
    }
    # A toggle per pass, on for the current ones; the replaced pass's layer starts hidden.
    toggles = {t["data-toggle"]: "checked" in t for t in _having(html, "input", "data-toggle")}
    assert toggles == {str(passes["old"].pk): False, str(passes["new"].pk): True, str(passes["model"].pk): True}
    layers = {d["data-pass"]: "hidden" in d for d in _having(html, "div", "data-pass")}
    assert layers == {str(passes["old"].pk): True, str(passes["new"].pk): False, str(passes["model"].pk): False}
    overlays = [i["src"] for i in elements(html, "img", **{"class": "overlay"})]
    assert len(overlays) == 3 and all(src.startswith("/browse/annotations/") for src in overlays)
    # Boxes: the new pass's two regions and the old pass's one, placed in percent of the 40x25 image.
    boxes = elements(html, "div", **{"class": "box"})
    first, second = list(artifact_class_list())[:2]
    assert sorted(b["data-code"] for b in boxes) == sorted([first.code, first.code, second.code])
    assert any(b["style"].startswith("left:25.000%;top:20.000%;width:25.000%;height:40.000%") for b in boxes)
    assert "warped spokes" in html and "first look" in html and first.definition in html
    assert "45.0 s" in html and "30.0 s" in html and "0.1000" in html and "pal@1" in html
    # Conditional inputs, the fix, the dataset splits and the links out.
    assert "a red bicycle in the rain" in html
    edge = main.conditional_inputs.get()
    assert elements(html, "img", src=f"/api/images/{main.pk}/conditional-inputs/{edge.pk}/file")
    fixed = page_world["images"]["fixed"]
    assert elements(html, "div", data_fix=str(fixed.pk)) and elements(html, "a", href=_url(fixed))
    splits = {r["data-version"]: r["data-split"] for r in elements(html, "tr") if "data-version" in r}
    assert splits == {f"pages@{v.number}": DatasetItem.objects.get(version=v, image=main).split
                      for v in (page_world["v1"], page_world["v2"])}
    assert elements(html, "a", **{"class": "ls-link"}, href=f"http://ls.example:8080/projects/77/data?task={LS_TASK_ID}")
    assert elements(html, "a", id="api-link", href=f"/api/images/{main.pk}/")
    assert not elements(html, "form", id="mark-reviewed")  # a viewer may not review


def test_neighbour_links_follow_the_image_ids(client, viewer_user, page_world):
    images = sorted(page_world["images"].values(), key=lambda i: i.pk)
    html = _get(client, viewer_user, _url(images[1])).content.decode()
    assert elements(html, "a", id="prev-image", href=_url(images[0]))
    assert elements(html, "a", id="next-image", href=_url(images[2]))
    first = _get(client, viewer_user, _url(images[0])).content.decode()
    assert not elements(first, "a", id="prev-image")


def test_the_page_costs_the_same_queries_however_many_passes_regions_and_versions(client, viewer_user, page_world):
    main, alice = page_world["images"]["main"], page_world["users"]["alice"]
    client.force_login(viewer_user)
    client.get(_url(main))  # the session is warm
    with CaptureQueriesContext(connection) as before:
        assert client.get(_url(main)).status_code == 200
    n_before = len(before)  # now: a later request outside a capture clears Django's query log
    assert n_before <= MAX_QUERIES, [q["sql"] for q in before.captured_queries]
    classes = list(artifact_class_list())
    current = page_world["passes"]["new"]
    for n in range(4):  # four more replacements, with more regions each time, and two more dataset versions
        current = annotation_create(image=main, user=alice, lead_time=5, mask=rect_mask(0, 0, 4 + n, 4),
                                    replaces=current, regions=region_inputs(
                                        [(c.slug, (0, 0, 4, 4), f"r{n}") for c in classes[:n + 2]]))
    for name in ("more-a", "more-b"):
        dataset_version_build(version=dataset_version_start(dataset=dataset_create(name=name)))
    with CaptureQueriesContext(connection) as after:
        html = client.get(_url(main)).content.decode()
    assert len(elements(html, "article", **{"class": "pass replaced"})) == 5
    assert len(after) == n_before, [q["sql"] for q in after.captured_queries]


def test_unknown_image_is_a_404_and_a_bad_parameter_a_400_naming_it(client, viewer_user, page_world):
    assert _get(client, viewer_user, "/browse/images/999999/").status_code == 404
    response = _get(client, viewer_user, _url(page_world["images"]["main"]), reviewed="lots")
    assert response.status_code == 400
    assert elements(response.content, "p", id="bad-parameter", data_parameter="reviewed")
    assert "'lots' is not a whole number" in unescape(response.content.decode())


def _rgba(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as png:
        assert png.mode == "RGBA"
        return np.asarray(png)


def test_the_overlay_is_the_mask_tinted_and_transparent_elsewhere_with_an_etag(client, viewer_user, page_world):
    new = page_world["passes"]["new"]  # its mask: x 10..20, y 5..15
    url = reverse("browse:overlay", kwargs={"annotation_id": new.pk})
    response = _get(client, viewer_user, url, tint=1)
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    pixels = _rgba(response.content)
    assert pixels.shape == (25, 40, 4)
    inside = np.zeros((25, 40), dtype=bool)
    inside[5:15, 10:20] = True
    assert (pixels[inside] == (30, 136, 229, 140)).all() and (pixels[~inside][:, 3] == 0).all()
    etag = response["ETag"]
    assert etag == f'"{new.masks.get().blob_id}-1"' and "max-age" in response["Cache-Control"]
    again = client.get(url, {"tint": 1}, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again["ETag"] == etag
    bad = client.get(url, {"tint": 99})
    assert bad.status_code == 400 and elements(bad.content, "p", data_parameter="tint")
    no_mask = Annotation.objects.get(image=page_world["images"]["stable"])
    assert client.get(reverse("browse:overlay", kwargs={"annotation_id": no_mask.pk})).status_code == 404
    assert client.get(reverse("browse:overlay", kwargs={"annotation_id": 999999})).status_code == 404


def _review(client, user, image, *ids):
    client.force_login(user)
    return client.post(reverse("browse:mark-reviewed", kwargs={"image_id": image.pk}), {"annotation": list(ids)})


def test_a_reviewer_marks_a_pass_reviewed_keeping_labeller_mask_regions_and_time(client, page_world):
    main, new = page_world["images"]["main"], page_world["passes"]["new"]
    reviewer = page_world["users"]["reviewer"]
    page = _get(client, reviewer, _url(main)).content.decode()
    # Only the current human pass is offered: the replaced one and the model's are not.
    assert [i["value"] for i in elements(page, "input", name="annotation")] == [str(new.pk)]
    times_before = sorted(p.seconds for p in counted_passes())
    response = _review(client, reviewer, main, new.pk)
    assert response.status_code == 302 and response["Location"] == _url(main) + "?reviewed=1"
    reviewed = Annotation.objects.get(previous=new)
    assert (reviewed.status, reviewed.user, reviewed.lead_time, reviewed.is_current) == ("reviewed", new.user, 45, True)
    assert reviewed.masks.get().blob_id == new.masks.get().blob_id
    assert sorted((r.artifact_class_id, r.caption) for r in reviewed.regions.all()) == sorted(
        (r.artifact_class_id, r.caption) for r in new.regions.all())
    new.refresh_from_db()
    assert not new.is_current
    # The labeller's work counts once, as before.
    assert sorted(p.seconds for p in counted_passes()) == times_before
    after = client.get(response["Location"]).content.decode()
    assert elements(after, "p", id="reviewed-notice")
    assert elements(after, "article", data_pass_card=str(reviewed.pk), data_status="reviewed")


def test_review_is_refused_below_reviewer_and_stores_nothing(client, viewer_user, page_world):
    main, new = page_world["images"]["main"], page_world["passes"]["new"]
    annotator = _user("otto-annotator", "annotator")
    count = Annotation.objects.count()
    for user in (viewer_user, annotator):
        assert _review(client, user, main, new.pk).status_code == 403
        assert not elements(_get(client, user, _url(main)).content, "form", id="mark-reviewed")
    assert Annotation.objects.count() == count


def test_review_of_a_wrong_pass_is_a_400_naming_the_parameter_and_stores_nothing(client, page_world):
    images, passes, reviewer = page_world["images"], page_world["passes"], page_world["users"]["reviewer"]
    count = Annotation.objects.count()
    cases = [
        ((), "choose at least one pass"),
        (("x",), "is not a list of pass ids"),
        ((passes["old"].pk,), "only a current submitted pass"),  # replaced
        ((passes["model"].pk,), "is a model pass"),
        ((passes["relabel_new"].pk,), f"are not passes of image {images['main'].pk}"),
        ((passes["new"].pk, passes["old"].pk), "only a current submitted pass"),  # all or none
    ]
    for ids, message in cases:
        response = _review(client, reviewer, images["main"], *ids)
        assert response.status_code == 400, ids
        assert elements(response.content, "p", data_parameter="annotation")
        assert message in unescape(response.content.decode()), (ids, response.content)
    assert Annotation.objects.count() == count
    assert _review(client, reviewer, type("Gone", (), {"pk": 999999})(), passes["new"].pk).status_code == 404
