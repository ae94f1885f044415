"""Dashboard pages through Django's test client: login, roles, the numbers in the charts, and the query bound."""

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from annotator.models import Campaign
from backend.jobs.models import Job
from backend.mlmodels.services import model_promote
from dashboard.views import PAGES
from datasets.models import DatasetVersion
from datasets.services import dataset_create, dataset_version_build, dataset_version_start
from learning.services.rounds import learning_round_record
from tests.conftest import png_bytes
from tests.dashboard.conftest import EXPECTED, PAR_BINS, _model
from tests.dashboard.html import chart_marks, elements
from tests.factories import GeneratorFactory, make_image

pytestmark = pytest.mark.django_db

# Session, user and the user's role, then the page's own aggregated queries (the overview: 9).
MAX_QUERIES = 12


@pytest.fixture
def viewer(client, viewer_user):
    client.force_login(viewer_user)
    return client


def _urls(history) -> list[str]:
    return [reverse(f"dashboard:{name}") for name, _ in PAGES] + [
        reverse("dashboard:datasheet", args=[history["dataset_version"].pk])]


def test_pages_need_a_login_and_a_role(client, dashboard_history):
    for url in _urls(dashboard_history):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"] == f"/dashboard/login/?next={url}"
    User.objects.create_user("nobody", password="pw-nobody")
    client.post("/dashboard/login/", {"username": "nobody", "password": "pw-nobody"})
    assert client.get("/dashboard/").status_code == 403


def test_the_login_form_logs_in_and_logout_logs_out(client, viewer_user):
    response = client.post("/dashboard/login/?next=/dashboard/jobs/",
                           {"username": viewer_user.username, "password": "pw-" + viewer_user.username,
                            "next": "/dashboard/jobs/"})
    assert response.status_code == 302 and response["Location"] == "/dashboard/jobs/"
    assert client.get("/dashboard/jobs/").status_code == 200
    assert client.post("/dashboard/logout/").status_code == 302
    assert client.get("/dashboard/jobs/").status_code == 302
    wrong = client.post("/dashboard/login/", {"username": viewer_user.username, "password": "nope"})
    assert wrong.status_code == 200 and b"Wrong username or password" in wrong.content


def test_overview_counts_and_one_bar_per_task(viewer, dashboard_history):
    from backend.images.models import SynthesisTask

    html = viewer.get("/dashboard/").content
    text = html.decode()
    for key in ("images", "labelled", "annotations", "generators"):
        assert f'data-count="{key}">{EXPECTED[key]}<' in text
    bars = chart_marks(html, "images-per-task", "bar")
    assert len(bars) == SynthesisTask.objects.count()
    by_task = {b["data-task"]: (int(b["data-value"]), int(b["data-labelled"])) for b in bars}
    assert by_task["text_to_image"] == (6, 4) and by_task["inpainting"] == (3, 3) and by_task["other"] == (0, 0)
    generators = {b["data-generator"]: int(b["data-value"]) for b in chart_marks(html, "images-per-generator", "bar")}
    assert generators == {"gen-a": 5, "gen-b": 4}


def test_par_histograms_per_task_match_the_masks(viewer, dashboard_history):
    html = viewer.get("/dashboard/par/").content
    charts = elements(html, "svg", **{"class": "chart"})
    assert [c["data-task"] for c in charts] == ["inpainting", "text_to_image"]  # the tasks' own order
    for task, expected in EXPECTED["par_histograms"].items():
        bins = chart_marks(html, f"par-{task}", "bin")
        assert [b["data-bin"] for b in bins] == PAR_BINS
        assert [int(b["data-count"]) for b in bins] == expected
    model = viewer.get("/dashboard/par/?source=model").content
    assert [c["data-task"] for c in elements(model, "svg", **{"class": "chart"})] == ["text_to_image"]
    assert [int(b["data-count"]) for b in chart_marks(model, "par-text_to_image", "bin")] == \
        EXPECTED["model_par_histograms"]["text_to_image"]


def test_average_par_heatmap_matches_hand_computed_means(viewer, dashboard_history):
    html = viewer.get("/dashboard/par/heatmap/").content
    cells = chart_marks(html, "average-par", "cell")
    assert len(cells) == 2 * 2  # generators x tasks with a human PAR
    found = {(c["data-row"], c["data-column"]): c for c in cells}
    for key, (mean, n) in EXPECTED["average_par"].items():
        assert float(found[key]["data-value"]) == pytest.approx(mean, abs=1e-6) and int(found[key]["data-n"]) == n
    assert found[("gen-b", "text_to_image")]["data-value"] == ""  # only a model mask there


def test_labelling_time_charts_match_the_api_figures(viewer, dashboard_history):
    html = viewer.get("/dashboard/labelling-time/").content
    text = html.decode()
    overall = EXPECTED["time_overall"]
    assert f'data-stat="count">{overall["count"]}<' in text
    assert f'data-stat="median">{overall["median_s"]:.1f} s<' in text
    assert f'data-stat="saving">{EXPECTED["median_saving_s"]:.1f} s<' in text
    for group in ("annotator", "generator", "task"):
        bars = chart_marks(html, f"time-by-{group}", "bar")
        assert {b["data-group"]: (int(b["data-n"]), float(b["data-median"])) for b in bars} == \
            EXPECTED[f"time_by_{group}"]
    assisted = chart_marks(html, "time-assisted", "bar")
    assert {b["data-group"]: (int(b["data-n"]), float(b["data-median"])) for b in assisted} == EXPECTED["time_assisted"]
    hours = sum(float(b["data-hours"]) for b in chart_marks(html, "time-by-annotator", "bar"))
    assert hours == pytest.approx(overall["total_s"] / 3600, abs=1e-5)
    # The API, from the same functions, says the same.
    api = viewer.get("/api/stats/labeling-time?group_by=annotator").json()
    assert api["overall"]["median_s"] == overall["median_s"]
    assert api["assisted_vs_unassisted"]["median_saving_s"] == EXPECTED["median_saving_s"]


def test_models_page_shows_per_task_scores_and_the_promotion_history(viewer, dashboard_history):
    html = viewer.get("/dashboard/models/").content
    rows = {r["data-model"]: r["data-status"] for r in elements(html, "tr") if "data-model" in r}
    assert rows == {"pal@1": "production", "pal@2": "retired"}
    cells = {(c["data-row"], c["data-column"]): float(c["data-value"])
             for c in chart_marks(html, "model-task-iou", "cell")}
    assert cells == {("pal@1", "text_to_image"): 0.25, ("pal@1", "inpainting"): 0.35,
                     ("pal@2", "text_to_image"): 0.4, ("pal@2", "inpainting"): 0.45}
    history = [r["data-promoted"] for r in elements(html, "tr") if "data-promoted" in r]
    assert history == ["pal@1", "pal@2", "pal@1"]  # newest first: the rollback is on top


def test_learning_jobs_and_datasets_pages(viewer, dashboard_history):
    html = viewer.get("/dashboard/active-learning/").content
    bars = chart_marks(html, "rounds-picked", "bar")
    assert [(b["data-round"], b["data-strategy"], b["data-value"]) for b in bars] == [
        ("1", "random", "2"), ("2", "uncertainty", "2")]
    rounds = {r["data-round"]: r for r in elements(html, "tr") if "data-round" in r}
    # Round 1 ran before any model; pal@1 came after it. Round 2 was picked by pal@1, then pal@2 came.
    assert (rounds["1"]["data-model"], rounds["1"]["data-after-model"]) == ("", "pal@1")
    assert float(rounds["1"]["data-after"]) == pytest.approx(0.3)
    assert (rounds["2"]["data-model"], rounds["2"]["data-after-model"]) == ("pal@1", "pal@2")
    assert float(rounds["2"]["data-before"]) == pytest.approx(0.3)
    assert float(rounds["2"]["data-after"]) == pytest.approx(0.425)

    html = viewer.get("/dashboard/jobs/").content
    bars = chart_marks(html, "jobs-by-status", "bar")
    assert {b["data-status"]: int(b["data-value"]) for b in bars} == EXPECTED["jobs_by_status"]
    assert len(elements(html, "tr", data_status="succeeded")) == 2

    html = viewer.get("/dashboard/datasets/").content
    version = dashboard_history["dataset_version"]
    bars = chart_marks(html, "dataset-version-items", "bar")
    assert [(b["data-version"], int(b["data-value"])) for b in bars] == [(str(version.pk), EXPECTED["dataset_items"])]
    sheet = viewer.get(f"/dashboard/datasets/versions/{version.pk}/").content.decode()
    assert "<h1>Datasheet: unified-test v1</h1>" in sheet and "<table>" in sheet
    assert "&lt;b&gt;human&lt;/b&gt;" in sheet and "<b>human</b>" not in sheet  # raw HTML is shown, not run
    assert viewer.get("/dashboard/datasets/versions/999999/").status_code == 404


def _query_counts(client, urls) -> dict[str, int]:
    counts = {}
    for url in urls:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200, url
        counts[url] = len(ctx.captured_queries)
    return counts


def test_every_page_runs_a_bounded_number_of_queries_whatever_the_data(viewer, dashboard_history, admin_user,
                                                                       django_assert_max_num_queries):
    urls = _urls(dashboard_history)
    for url in urls:
        with django_assert_max_num_queries(MAX_QUERIES):
            assert viewer.get(url).status_code == 200
    before = _query_counts(viewer, urls)

    # More of everything the pages list or group: generators, tasks, images, jobs, rounds, models, versions.
    generators = [GeneratorFactory() for _ in range(3)]
    for i, generator in enumerate(generators):
        for task in ("real_photo", "super_resolution", "other"):
            make_image(data=png_bytes(width=8, height=8, seed=100 + i * 10 + len(task)), generator=generator,
                       task_slug=task)
    campaign = Campaign.objects.create(name="more", generator=generators[0])
    pal3 = _model("3", t2i=0.5, inpainting=0.5)
    model_promote(model_version=pal3)
    for _ in range(3):
        learning_round_record(campaign=campaign, strategy="margin", k=5, candidates=9, picked=5, pushed=5,
                              model_version=pal3)
        Job.objects.create(kind="dataset_version", status="queued")
    dataset = dataset_create(name="second")
    for _ in range(2):
        dataset_version_build(version=dataset_version_start(dataset=dataset, author=admin_user))
    assert DatasetVersion.objects.count() == 3

    assert _query_counts(viewer, urls) == before


def test_labelling_time_shows_the_randomised_comparison(viewer):
    from backend.annotations.models import Annotation
    from backend.annotations.services import annotation_create

    lena, gen = User.objects.create_user("lena"), GeneratorFactory(name="gen-r", version="")
    for seed, (prelabel, seconds) in enumerate([("shown", 30), ("shown", 40), ("withheld", 70), ("none", 500)]):
        annotation_create(image=make_image(data=png_bytes(seed=700 + seed), generator=gen), user=lena,
                          lead_time=seconds, prelabel=Annotation.Prelabel(prelabel))
    html = viewer.get("/dashboard/labelling-time/").content
    rows = {r["data-group"]: r["data-saving"] for r in elements(html, "tr") if "data-saving" in r}
    # withheld 70 − median shown 35; the pass with no prediction to show is not in the comparison
    assert rows == {"overall": "35.0", "generator: gen-r": "35.0", "task: text_to_image": "35.0"}
