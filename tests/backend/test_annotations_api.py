import io
import json

import numpy as np
import pytest
from PIL import Image

from backend.annotations.models import Annotation, MaskLabel
from tests.backend.storage_checks import assert_storage_matches_tables
from tests.conftest import mask_bytes, png_bytes, upload
from tests.factories import make_image

pytestmark = pytest.mark.django_db


@pytest.fixture
def image():
    return make_image(data=png_bytes(64, 48, seed=21))


def a_mask():
    mask = np.zeros((48, 64), dtype=np.uint8)
    mask[10:20, 30:50] = 1  # 200 px
    return mask


def post_mask(client, image, mask_data, **fields):
    return client.post(f"/api/images/{image.pk}/masks/", {"file": upload("m.png", mask_data), **fields},
                       format="multipart")


def test_mask_upload_round_trips_pixels_and_sets_par(annotator_client, image):
    regions = [{"bbox": [30, 10, 50, 20], "artifact_class": "duplicated-components", "caption": "extra finger"}]
    r = post_mask(annotator_client, image, mask_bytes(a_mask(), scale=1), lead_time="42.5",
                  regions=json.dumps(regions))
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["source"] == "human" and body["user"] == "anna-annotator" and body["lead_time"] == 42.5
    assert body["masks"][0]["par"] == pytest.approx(200 / (64 * 48))
    assert body["regions"][0]["bbox"] == [30, 10, 50, 20]
    assert body["regions"][0]["artifact_class_code"] == "4" and body["regions"][0]["caption"] == "extra finger"

    png = annotator_client.get(body["mask_url"])
    assert png.status_code == 200 and png["Content-Type"] == "image/png"
    decoded = np.asarray(Image.open(io.BytesIO(b"".join(png.streaming_content))))
    assert set(np.unique(decoded)) == {0, 1}  # PAL4VST label values
    assert np.array_equal(decoded != 0, a_mask() != 0)
    image.refresh_from_db()
    assert image.is_labelled and image.par == pytest.approx(200 / 3072)


@pytest.mark.parametrize("bad, message", [
    (mask_bytes(np.ones((10, 10))), "mask is 10x10 but its image is 64x48"),
    (png_bytes(64, 48, mode="L"), "mask is not binary"),
    (b"not a png", "mask is not an image"),
])
def test_bad_mask_is_400_and_stores_nothing(annotator_client, image, bad, message):
    r = post_mask(annotator_client, image, bad)
    assert r.status_code == 400 and message in r.json()["detail"]
    assert not Annotation.objects.exists()
    assert_storage_matches_tables()


def test_unknown_class_and_bad_box_are_400(annotator_client, image):
    r = annotator_client.post(f"/api/images/{image.pk}/annotations/",
                              {"regions": [{"bbox": [0, 0, 5, 5], "artifact_class": "ghosts"}]}, format="json")
    assert r.status_code == 400 and "unknown artifact class 'ghosts'" in r.json()["detail"]
    r = annotator_client.post(f"/api/images/{image.pk}/annotations/",
                              {"regions": [{"bbox": [0, 0, 500, 5], "artifact_class": "9"}]}, format="json")
    assert r.status_code == 400 and "outside the 64x48 image" in r.json()["detail"]
    assert not Annotation.objects.exists()


def test_replacing_keeps_history(annotator_client, image):
    first = post_mask(annotator_client, image, mask_bytes(a_mask())).json()
    empty = np.zeros((48, 64), dtype=np.uint8)
    second = post_mask(annotator_client, image, mask_bytes(empty), replaces=str(first["id"])).json()
    assert second["previous_id"] == first["id"]
    current = annotator_client.get(f"/api/images/{image.pk}/annotations/").json()["results"]
    assert [a["id"] for a in current] == [second["id"]]
    history = annotator_client.get(f"/api/images/{image.pk}/annotations/?history=true").json()["results"]
    assert {a["id"] for a in history} == {first["id"], second["id"]}
    assert MaskLabel.objects.count() == 2  # the old mask is still there
    image.refresh_from_db()
    assert image.par == 0.0
    # replacing an annotation that was already replaced is refused
    r = post_mask(annotator_client, image, mask_bytes(a_mask()), replaces=str(first["id"]))
    assert r.status_code == 400 and "already replaced" in r.json()["detail"]


def test_no_artifacts_annotation_counts_as_labelled_with_par_zero(annotator_client, image):
    r = annotator_client.post(f"/api/images/{image.pk}/annotations/", {"no_artifacts": True, "lead_time": 3},
                              format="json")
    assert r.status_code == 201
    image.refresh_from_db()
    assert image.is_labelled and image.par == 0.0


def test_drafts_do_not_count_as_labelled(annotator_client, image):
    post_mask(annotator_client, image, mask_bytes(a_mask()), status="draft")
    image.refresh_from_db()
    assert not image.is_labelled and image.par is None


def test_viewer_cannot_label(viewer_client, image):
    assert post_mask(viewer_client, image, mask_bytes(a_mask())).status_code == 403
    assert viewer_client.post(f"/api/images/{image.pk}/annotations/", {}, format="json").status_code == 403
