"""Gallery thumbnails: drawn right, made once per (image, pass), served with ETag = their key (304 after), made by
the job after a pass is stored."""

import io

import numpy as np
import pytest
from django.urls import reverse
from PIL import Image

from backend.annotations.services import RegionInput, annotation_create
from backend.core.blobs import blob_storage
from backend.jobs.models import Job
from backend.taxonomy.selectors import artifact_class_list
from dashboard.browse import thumbnails
from dashboard.browse.thumbnails import SIZE, thumbnail_key, thumbnail_render
from tests.conftest import png_bytes
from tests.dashboard.browse.gallery_seed import mask
from tests.factories import make_image

pytestmark = pytest.mark.django_db

W, H = 40, 25  # gallery_seed's masks


def decoded(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as picture:
        assert picture.format == "JPEG"
        return np.asarray(picture.convert("RGB")).astype(int)


def test_the_mask_is_tinted_and_the_boxes_drawn_at_the_fixed_size():
    grey = io.BytesIO()
    Image.new("RGB", (400, 250), (128, 128, 128)).save(grey, format="PNG")
    left = np.zeros((250, 400), dtype=np.uint8)
    left[:, :200] = 1
    mask_png = io.BytesIO()
    Image.fromarray(left, mode="L").convert("P").save(mask_png, format="PNG")
    bare = decoded(thumbnail_render(image_bytes=grey.getvalue()))
    drawn = decoded(thumbnail_render(image_bytes=grey.getvalue(), mask_png=mask_png.getvalue(),
                                     boxes=[((250, 100, 350, 200), "7")]))
    assert bare.shape == drawn.shape == (160, SIZE, 3)  # 400x250 → 256 on the longest side
    red_minus_blue = drawn[..., 0] - drawn[..., 2]
    assert red_minus_blue[80, 40] > 60 and abs(red_minus_blue[80, 200]) < 15  # tinted left, plain right
    assert abs(bare[80, 40] - 128).max() < 8
    assert (drawn[64:128, 160] != bare[64:128, 160]).any()  # the box's left edge, x = 250 * 0.64


def test_a_thumbnail_is_made_once_and_then_answered_by_etag(client, viewer_user, monkeypatch):
    image = make_image(data=png_bytes(width=W, height=H, seed=3))
    crack = artifact_class_list().first()
    annotation = annotation_create(image=image, user=viewer_user, mask=mask(first=300),
                                   regions=[RegionInput(2, 2, 20, 12, crack)])
    renders = []
    real = thumbnails.thumbnail_render
    monkeypatch.setattr(thumbnails, "thumbnail_render", lambda **kw: renders.append(kw) or real(**kw))
    client.force_login(viewer_user)
    url = f"{reverse('browse:thumbnail', args=[image.pk])}?pass={annotation.pk}"

    first = client.get(url)
    key = thumbnail_key(sha256=image.blob_id, pass_id=annotation.pk)
    assert first.status_code == 200 and first["Content-Type"] == "image/jpeg"
    assert first["ETag"] == f'"{key}"' and "immutable" in first["Cache-Control"]
    assert blob_storage().exists(key) and key.startswith(f"derived/{image.blob_id[:2]}/{image.blob_id}/")
    assert [r["boxes"] for r in renders] == [[((2.0, 2.0, 20.0, 12.0), crack.code)]]

    again = client.get(url)
    assert again.status_code == 200 and again.content == first.content
    cached = client.get(url, HTTP_IF_NONE_MATCH=first["ETag"])
    assert cached.status_code == 304 and cached["ETag"] == first["ETag"] and not cached.content
    assert len(renders) == 1  # made once

    bare = client.get(reverse("browse:thumbnail", args=[image.pk]))
    assert bare.status_code == 200 and bare["ETag"] != first["ETag"] and len(renders) == 2


def test_a_pass_of_another_image_or_a_bad_pass_is_refused(client, viewer_user):
    image, other = (make_image(data=png_bytes(width=W, height=H, seed=s)) for s in (4, 5))
    annotation = annotation_create(image=other, user=viewer_user, mask=mask(first=10))
    client.force_login(viewer_user)
    url = reverse("browse:thumbnail", args=[image.pk])
    assert client.get(f"{url}?pass={annotation.pk}").status_code == 404
    assert client.get(f"{url}?pass=x").status_code == 400
    assert client.get(reverse("browse:thumbnail", args=[10**9])).status_code == 404


def test_the_job_makes_the_thumbnail_after_a_pass_is_stored(settings, viewer_user, django_capture_on_commit_callbacks):
    settings.FLAWMAP_THUMBNAIL_JOBS = True
    image = make_image(data=png_bytes(width=W, height=H, seed=6))
    with django_capture_on_commit_callbacks(execute=True):  # commit: receivers queue the job, eager Celery runs it
        annotation = annotation_create(image=image, user=viewer_user, mask=mask(first=100))
    job = Job.objects.get(kind="browse_thumbnails")
    assert job.status == Job.Status.SUCCEEDED and job.params == {"image_ids": [image.pk]}
    assert job.result["made"] == 1
    assert blob_storage().exists(thumbnail_key(sha256=image.blob_id, pass_id=annotation.pk))
