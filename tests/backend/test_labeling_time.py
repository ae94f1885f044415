import csv
import io

import pytest
from django.contrib.auth.models import User

from backend.annotations.models import Annotation
from backend.annotations.services import annotation_create
from backend.mlmodels.models import ModelVersion
from tests.conftest import png_bytes
from tests.factories import GeneratorFactory, make_image

pytestmark = pytest.mark.django_db


@pytest.fixture
def fixture():
    """Hand-made history; the expected figures in the tests are computed by hand from it."""
    alice, bob = User.objects.create_user("alice"), User.objects.create_user("bob")
    gen_a, gen_b = GeneratorFactory(name="gen-a", version=""), GeneratorFactory(name="gen-b", version="")
    model = ModelVersion.objects.create(kind="segmenter", name="m", version="1")
    i1, i2, i5 = (make_image(data=png_bytes(seed=s), generator=gen_a) for s in (1, 2, 5))
    i3, i4, i6 = (make_image(data=png_bytes(seed=s), generator=gen_b, task_slug="inpainting") for s in (3, 4, 6))
    annotation_create(image=i1, user=alice, lead_time=60)
    annotation_create(image=i2, model_version=model)                      # pre-label first...
    annotation_create(image=i2, user=alice, lead_time=30)                 # ...so this pass is assisted
    first = annotation_create(image=i3, user=bob, lead_time=120)
    annotation_create(image=i3, user=bob, lead_time=150, replaces=first)  # bob's revision: cumulative time
    annotation_create(image=i4, user=bob, lead_time=40, status=Annotation.Status.DRAFT)
    other = annotation_create(image=i5, user=alice, lead_time=90)
    annotation_create(image=i5, user=bob, lead_time=20, replaces=other)   # someone else's pass: both count
    annotation_create(image=i6, user=bob, lead_time=10, status=Annotation.Status.REJECTED)
    return gen_a


def test_grouped_by_annotator_matches_hand_computed(fixture, viewer_client):
    body = viewer_client.get("/api/stats/labeling-time?group_by=annotator").json()
    rows = {r["annotator"]: r for r in body["groups"]}
    assert rows["alice"] == {"annotator": "alice", "count": 3, "median_s": 60.0, "p90_s": 84.0,
                             "total_hours": pytest.approx(180 / 3600)}
    assert rows["bob"] == {"annotator": "bob", "count": 2, "median_s": 85.0, "p90_s": 137.0,
                           "total_hours": pytest.approx(170 / 3600)}
    assert body["overall"]["count"] == 5 and body["overall"]["total_hours"] == pytest.approx(350 / 3600)
    assert body["rejected"]["count"] == 1 and body["rejected"]["total_hours"] == pytest.approx(10 / 3600)


def test_assisted_vs_unassisted_and_projection(fixture, viewer_client):
    body = viewer_client.get(f"/api/stats/labeling-time?project_generator={fixture.pk}&project_n=100").json()
    split = body["assisted_vs_unassisted"]
    assert split["assisted"]["count"] == 1 and split["assisted"]["median_s"] == 30.0
    assert split["unassisted"]["count"] == 4 and split["unassisted"]["median_s"] == 75.0
    assert split["median_saving_s"] == 45.0
    low, high = split["median_saving_ci95"]
    assert low <= 45.0 <= high
    projection = body["projection"]
    assert projection["basis"] == "generator" and projection["based_on"] == 4
    assert projection["hours"] == pytest.approx(100 * 50 / 3600)
    assert projection["ci95"][0] <= projection["hours"] <= projection["ci95"][1]


def test_other_groupings_and_csv(fixture, viewer_client):
    by_generator = viewer_client.get("/api/stats/labeling-time?group_by=generator").json()["groups"]
    assert [(r["generator"], r["count"], r["median_s"]) for r in by_generator] == [
        ("gen-a", 4, 45.0), ("gen-b", 1, 150.0)
    ]
    by_task = viewer_client.get("/api/stats/labeling-time?group_by=task").json()["groups"]
    assert {r["task"]: r["count"] for r in by_task} == {"text_to_image": 4, "inpainting": 1}
    assert [r["count"] for r in viewer_client.get("/api/stats/labeling-time?group_by=week").json()["groups"]] == [5]
    assert viewer_client.get("/api/stats/labeling-time?group_by=campaign").json()["groups"][0]["campaign"] == "(none)"
    response = viewer_client.get("/api/stats/labeling-time?group_by=annotator&format=csv")
    assert response["Content-Type"] == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(r["annotator"], r["count"]) for r in rows] == [("alice", "3"), ("bob", "2")]
    assert viewer_client.get("/api/stats/labeling-time?group_by=planet").status_code == 400
    assert viewer_client.get("/api/stats/labeling-time?project_generator=x").status_code == 400
