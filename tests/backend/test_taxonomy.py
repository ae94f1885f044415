import pytest

from backend.annotations.services import RegionInput, annotation_create
from backend.taxonomy.models import ArtifactClass
from tests.conftest import png_bytes
from tests.factories import make_image

pytestmark = pytest.mark.django_db


def test_thirteen_synartifact_classes_are_seeded(viewer_client):
    rows = viewer_client.get("/api/taxonomy/?page_size=100").json()["results"]
    assert len(rows) == 13
    assert rows[0]["name"] == "Illegible Letters" and rows[0]["code"] == "1"
    assert {r["group"] for r in rows} == {"object_aware", "object_agnostic", "lighting", "other"}
    assert all(r["definition"] for r in rows)


def test_extending_makes_a_new_version_and_old_labels_keep_their_class(admin_client, annotator_user):
    image = make_image(data=png_bytes())
    old_class = ArtifactClass.objects.get(taxonomy__number=1, slug="localized-blur")
    annotation = annotation_create(image=image, user=annotator_user,
                                   regions=[RegionInput(0, 0, 4, 4, old_class, "blurry")])
    r = admin_client.post("/api/taxonomy/versions/", {
        "name": "with watermarks", "add_classes": [
            {"code": "14", "slug": "watermark", "name": "Watermark", "group": "other",
             "definition": "A visible watermark or logo."}],
    }, format="json")
    assert r.status_code == 201 and r.json()["number"] == 2 and r.json()["class_count"] == 14
    current = admin_client.get("/api/taxonomy/?page_size=100").json()["results"]
    assert len(current) == 14 and current[-1]["slug"] == "watermark"
    assert len(admin_client.get("/api/taxonomy/?version=1&page_size=100").json()["results"]) == 13
    assert annotation.regions.get().artifact_class_id == old_class.pk


def test_taxonomy_changes_need_admin_and_unique_slugs(admin_client, annotator_client):
    new = {"name": "v2", "add_classes": [{"code": "99", "slug": "localized-blur", "name": "x", "group": "other",
                                          "definition": "d"}]}
    assert annotator_client.post("/api/taxonomy/versions/", new, format="json").status_code == 403
    r = admin_client.post("/api/taxonomy/versions/", new, format="json")
    assert r.status_code == 400 and "already exists" in r.json()["detail"]
