import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from backend.annotations.masks import mask_array_to_canonical
from backend.annotations.services import annotation_create
from backend.images.models import GeneratedImage
from tests.backend.storage_checks import assert_storage_matches_tables
from tests.conftest import png_bytes, upload
from tests.factories import GeneratorFactory, make_image

pytestmark = pytest.mark.django_db


def labelled(image, user, fraction_rows: int):
    mask = np.zeros((image.height, image.width), dtype=bool)
    mask[:fraction_rows] = True
    annotation_create(image=image, user=user, mask=mask_array_to_canonical(mask))
    image.refresh_from_db()
    return image


@pytest.mark.parametrize("url", ["/api/images/", "/api/generators/", "/api/tasks/", "/api/taxonomy/",
                                 "/api/images/1/", "/api/images/1/file", "/api/annotations/1/mask"])
def test_every_endpoint_requires_authentication(url):
    assert APIClient().get(url).status_code in (401, 403)


def test_token_auth_works(viewer_user):
    token = Token.objects.create(user=viewer_user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert client.get("/api/images/").status_code == 200


def test_user_without_role_is_refused(db):
    from django.contrib.auth.models import User

    client = APIClient()
    client.force_authenticate(User.objects.create_user("nobody"))
    response = client.get("/api/images/")
    assert response.status_code == 403 and "no Flawmap role" in response.json()["detail"]


def test_upload_many_files_reports_each(admin_client):
    GeneratorFactory(name="sdxl", version="1.0")
    files = [upload("a.png", png_bytes(seed=1)), upload("b.png", png_bytes(seed=2)), upload("c.png", b"junk")]
    response = admin_client.post("/api/images/", {
        "files": files, "generator": "sdxl", "task": "text_to_image", "prompt": "a cat", "seed": 3,
        "metadata": '{"sampler": "ddim"}',
    }, format="multipart")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["ingested"] == 2 and body["duplicates"] == 0
    assert body["rejected"] == [{"path": "c.png", "error": "not an image (unrecognised file format)"}]
    image = GeneratedImage.objects.get(pk=body["images"][0])
    assert image.metadata == {"sampler": "ddim"} and image.prompt == "a cat" and image.seed == 3
    assert_storage_matches_tables()

    again = admin_client.post("/api/images/", {"files": [upload("a.png", png_bytes(seed=1))],
                                               "generator": "sdxl", "task": "text_to_image"}, format="multipart")
    assert again.status_code == 200 and again.json()["duplicates"] == 1


def test_upload_errors_are_400_with_message(admin_client):
    GeneratorFactory(name="sdxl", version="1.0")
    r = admin_client.post("/api/images/", {"files": [upload("a.png", png_bytes())], "generator": "nope",
                                           "task": "text_to_image"}, format="multipart")
    assert r.status_code == 400 and "unknown generator 'nope'" in r.json()["detail"]
    r = admin_client.post("/api/images/", {"files": [upload("a.png", png_bytes())], "generator": "sdxl",
                                           "task": "text_to_image", "metadata": "{not json"}, format="multipart")
    assert r.status_code == 400 and "metadata is not valid JSON" in r.json()["detail"]
    r = admin_client.post("/api/images/", {"files": [upload("a.png", b"nope")], "generator": "sdxl",
                                           "task": "text_to_image"}, format="multipart")
    assert r.status_code == 400 and r.json()["rejected"][0]["path"] == "a.png"
    assert not GeneratedImage.objects.exists()


def test_upload_with_conditional_input(admin_client):
    GeneratorFactory(name="piti", version="")
    r = admin_client.post("/api/images/", {
        "files": [upload("a.png", png_bytes(seed=1))], "generator": "piti", "task": "edge_to_image",
        "conditional_inputs": [upload("edge.png", png_bytes(seed=2, mode="L"))], "conditional_roles": ["edge"],
    }, format="multipart")
    assert r.status_code == 201, r.content
    detail = admin_client.get(f"/api/images/{r.json()['images'][0]}/").json()
    assert [c["role"] for c in detail["conditional_inputs"]] == ["edge"]
    file = admin_client.get(detail["conditional_inputs"][0]["file_url"])
    assert b"".join(file.streaming_content) == png_bytes(seed=2, mode="L")


def test_annotators_and_viewers_cannot_ingest_or_delete(annotator_client, viewer_client):
    image = make_image(data=png_bytes())
    for client in (annotator_client, viewer_client):
        r = client.post("/api/images/", {"files": [upload("a.png", png_bytes(seed=9))], "generator": "x",
                                         "task": "other"}, format="multipart")
        assert r.status_code == 403
        assert client.delete(f"/api/images/{image.pk}/").status_code == 403
    assert GeneratedImage.objects.count() == 1


def test_admin_delete_removes_rows_and_files(admin_client, annotator_user, django_capture_on_commit_callbacks):
    image = labelled(make_image(data=png_bytes(seed=4)), annotator_user, 3)
    with django_capture_on_commit_callbacks(execute=True):  # files go only once the delete committed
        assert admin_client.delete(f"/api/images/{image.pk}/").status_code == 204
    assert not GeneratedImage.objects.exists()
    assert_storage_matches_tables()


def test_file_endpoint_returns_the_stored_bytes(viewer_client):
    data = png_bytes(seed=11)
    image = make_image(data=data)
    response = viewer_client.get(f"/api/images/{image.pk}/file")
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content) == data
    assert viewer_client.get("/api/images/999999/file").status_code == 404


def test_list_filters_and_par_ordering(viewer_client, annotator_user):
    sd = GeneratorFactory(name="sd")
    gan = GeneratorFactory(name="stylegan")
    low = labelled(make_image(data=png_bytes(seed=1), generator=sd), annotator_user, 4)      # PAR 4/48
    high = labelled(make_image(data=png_bytes(seed=2), generator=sd), annotator_user, 24)    # PAR 0.5
    unlabelled = make_image(data=png_bytes(seed=3), generator=gan, task_slug="unconditional")

    def ids(query):
        r = viewer_client.get("/api/images/" + query)
        assert r.status_code == 200, r.content
        return [row["id"] for row in r.json()["results"]]

    assert ids("?ordering=par") == [low.pk, high.pk, unlabelled.pk]  # unlabelled (no PAR) last
    assert ids("?ordering=-par") == [high.pk, low.pk, unlabelled.pk]
    assert set(ids("?labelled=false")) == {unlabelled.pk}
    assert set(ids("?labelled=true")) == {low.pk, high.pk}
    assert ids("?par_min=0.3") == [high.pk]
    assert set(ids("?par_max=0.2")) == {low.pk}
    assert set(ids(f"?generator={gan.pk}")) == {unlabelled.pk}
    assert set(ids("?task=unconditional")) == {unlabelled.pk}
    assert set(ids("?generator_name=sd")) == {low.pk, high.pk}
    assert ids("?created_after=2999-01-01T00:00:00Z") == []
    assert viewer_client.get("/api/images/?par_min=abc").status_code == 400
    assert viewer_client.get("/api/images/?ordering=bogus").status_code == 400


def token_client(user) -> APIClient:
    """Token auth loads the user per request, like production (force_authenticate reuses one object)."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def test_list_query_count_does_not_grow_with_page_size(viewer_user, annotator_user):
    viewer_client = token_client(viewer_user)
    gen = GeneratorFactory()
    for i in range(30):
        image = make_image(data=png_bytes(16, 16, seed=100 + i), generator=GeneratorFactory() if i % 3 else gen)
        if i % 2:
            labelled(image, annotator_user, 2)

    def count(page_size):
        with CaptureQueriesContext(connection) as ctx:
            response = viewer_client.get(f"/api/images/?page_size={page_size}")
        assert response.status_code == 200 and len(response.json()["results"]) == page_size
        return len(ctx.captured_queries)

    assert count(2) == count(30)


def test_annotation_list_query_count_is_constant(viewer_user, annotator_user):
    viewer_client = token_client(viewer_user)
    from backend.annotations.services import RegionInput
    from backend.taxonomy.selectors import artifact_class_list

    image = make_image(data=png_bytes(seed=50))
    cls = artifact_class_list().first()

    def add(n):
        for _ in range(n):
            mask = np.zeros((48, 64), dtype=bool)
            mask[:5, :5] = True
            annotation_create(image=image, user=annotator_user, mask=mask_array_to_canonical(mask),
                              regions=[RegionInput(0, 0, 5, 5, cls, "blob")])

    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert viewer_client.get(f"/api/images/{image.pk}/annotations/").status_code == 200
        return len(ctx.captured_queries)

    add(1)
    one = count()
    add(9)
    assert count() == one


def test_generators_and_tasks(admin_client, viewer_client):
    r = admin_client.post("/api/generators/", {"name": "dalle", "version": "2", "family": "diffusion"}, format="json")
    assert r.status_code == 201
    assert admin_client.post("/api/generators/", {"name": "dalle", "version": "2"}, format="json").status_code == 400
    assert viewer_client.post("/api/generators/", {"name": "x"}, format="json").status_code == 403
    names = [g["name"] for g in viewer_client.get("/api/generators/").json()["results"]]
    assert names == ["dalle"]
    tasks = [t["slug"] for t in viewer_client.get("/api/tasks/?page_size=100").json()["results"]]
    assert {"text_to_image", "virtual_try_on", "real_photo", "other"} <= set(tasks) and len(tasks) == 13
    r = admin_client.post("/api/tasks/", {"slug": "video_frame", "name": "Video frame"}, format="json")
    assert r.status_code == 201


def test_openapi_schema_and_docs(viewer_client):
    schema = viewer_client.get("/api/schema/")
    assert schema.status_code == 200 and b"/api/images/{image_id}/masks/" in schema.content
    assert viewer_client.get("/api/docs/").status_code == 200
