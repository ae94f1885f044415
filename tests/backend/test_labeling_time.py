import csv
import io

import pytest
from django.contrib.auth.models import User

from backend.analytics import randomised
from backend.annotations.models import Annotation
from backend.annotations.services import annotation_create
from backend.core.exceptions import ApplicationError
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


def test_randomised_shown_vs_withheld_per_generator_and_task(viewer_client):
    """Only passes with a known arm count: `none` (no prediction to show) and blank (not known) stay out."""
    lena = User.objects.create_user("lena")
    gen_a, gen_b = GeneratorFactory(name="gen-a", version=""), GeneratorFactory(name="gen-b", version="")
    shown, withheld = Annotation.Prelabel.SHOWN, Annotation.Prelabel.WITHHELD
    history = [  # generator, task, prelabel, seconds
        (gen_a, "text_to_image", shown, 30), (gen_a, "text_to_image", shown, 40), (gen_a, "inpainting", shown, 50),
        (gen_a, "text_to_image", withheld, 70), (gen_a, "text_to_image", withheld, 90),
        (gen_a, "text_to_image", Annotation.Prelabel.NONE, 200), (gen_a, "text_to_image", "", 10),
        (gen_b, "inpainting", shown, 20), (gen_b, "inpainting", withheld, 60),
    ]
    for seed, (generator, task, prelabel, seconds) in enumerate(history):
        image = make_image(data=png_bytes(seed=100 + seed), generator=generator, task_slug=task)
        annotation_create(image=image, user=lena, lead_time=seconds, prelabel=prelabel)
    body = viewer_client.get("/api/stats/labeling-time").json()
    trial = body["randomised"]
    overall = trial["overall"]
    assert {k: overall[k] for k in ("n_shown", "n_withheld", "median_shown_s", "median_withheld_s",
                                    "difference_s")} == {"n_shown": 4, "n_withheld": 3, "median_shown_s": 35.0,
                                                         "median_withheld_s": 70.0, "difference_s": 35.0}
    low, high = overall["ci95"]
    assert low <= 35.0 <= high
    assert [(r["generator"], r["median_shown_s"], r["median_withheld_s"], r["difference_s"])
            for r in trial["by_generator"]] == [("gen-a", 40.0, 80.0, 40.0), ("gen-b", 20.0, 60.0, 40.0)]
    assert [(r["task"], r["n_shown"], r["n_withheld"], r["difference_s"]) for r in trial["by_task"]] == [
        ("inpainting", 2, 1, 25.0), ("text_to_image", 2, 2, 45.0)]
    assert all(len(r["ci95"]) == 2 for r in trial["by_generator"] + trial["by_task"])
    assert "randomised" in trial["design"]
    assert body["overall"]["count"] == 9  # the observational figures still count every pass


def test_randomised_without_a_trial_and_the_arm_names():
    assert (randomised.SHOWN, randomised.WITHHELD) == (Annotation.Prelabel.SHOWN, Annotation.Prelabel.WITHHELD)
    empty = randomised.randomised_comparison([])
    assert empty["overall"] == {"n_shown": 0, "n_withheld": 0, "median_shown_s": None, "median_withheld_s": None,
                                "difference_s": None, "ci95": None}
    assert empty["by_generator"] == empty["by_task"] == []


def test_a_prelabel_is_for_human_passes_only():
    image = make_image(data=png_bytes(seed=300))
    model = ModelVersion.objects.create(kind="segmenter", name="m", version="1")
    with pytest.raises(ApplicationError, match="prelabel"):
        annotation_create(image=image, model_version=model, prelabel=Annotation.Prelabel.SHOWN)
    with pytest.raises(ApplicationError, match="prelabel"):
        annotation_create(image=image, user=User.objects.create_user("u"), prelabel="maybe")
    assert not Annotation.objects.exists()
