"""Benchmarks: frozen test sets per scope from the global test split, every segmenter scored on each with per-task
and per-generator IoU, F1 and 95 % bootstrap intervals, over the API and the CLI."""

import hashlib

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from backend.annotations.services import annotation_create
from backend.core.exceptions import ApplicationError
from backend.jobs.models import Job
from backend.mlmodels.models import ModelVersion
from backend.mlmodels.services import model_register
from datasets.benchmarks import benchmark_create, global_test_ids, model_benchmarks_score
from datasets.models import DEFAULT_SPLITS, Benchmark, BenchmarkScore
from datasets.splits import global_split, group_hash
from tests.conftest import png_bytes
from tests.datasets.helpers import labelled_image
from tests.factories import GeneratorFactory, left_half_torchscript, make_image

pytestmark = pytest.mark.django_db
W, H = 24, 16  # the stand-in model marks columns 0-11 of a 24-wide image (its left half) as artifact


def _in_test(seed: int) -> bool:
    sha = hashlib.sha256(png_bytes(W, H, seed=seed)).hexdigest()
    group = group_hash("image:" + sha)
    return global_split(group, shares=DEFAULT_SPLITS, seed=settings.FLAWMAP_SPLIT_SEED) == "test"


def _seeds(n: int, *, test: bool, start: int = 0) -> list[int]:
    """The first n image seeds from `start` whose image is (or is not) in the global test split."""
    seeds, seed = [], start
    while len(seeds) < n:
        if _in_test(seed) == test:
            seeds.append(seed)
        seed += 1
    return seeds


@pytest.fixture
def labelled_set(annotator_user):
    """Two generators: A (text_to_image) has test images labelled with 2 and 4 artifact rows and one that is
    labelled in train; B (inpainting) has test images with 6 and 8 rows, plus one test image with no label."""
    a, b = GeneratorFactory(name="gen-a"), GeneratorFactory(name="gen-b")
    test_seeds, train_seeds = _seeds(5, test=True, start=5000), _seeds(1, test=False, start=5000)
    images = {
        "a2": labelled_image(annotator_user, seed=test_seeds[0], generator=a, size=(W, H), rows=2),
        "a4": labelled_image(annotator_user, seed=test_seeds[1], generator=a, size=(W, H), rows=4),
        "b6": labelled_image(annotator_user, seed=test_seeds[2], generator=b, task_slug="inpainting", size=(W, H),
                             rows=6),
        "b8": labelled_image(annotator_user, seed=test_seeds[3], generator=b, task_slug="inpainting", size=(W, H),
                             rows=8),
        "train": labelled_image(annotator_user, seed=train_seeds[0], generator=a, size=(W, H), rows=3),
        "unlabelled": make_image(data=png_bytes(W, H, seed=test_seeds[4]), generator=b, task_slug="inpainting"),
    }
    assert global_test_ids(list(images.values())) == {images[k].pk for k in ("a2", "a4", "b6", "b8", "unlabelled")}
    return images


def test_a_benchmark_freezes_the_labelled_test_images_of_its_scope(labelled_set, annotator_user):
    ids = {key: image.pk for key, image in labelled_set.items()}
    everything = benchmark_create(scope="global", min_images=1)
    assert sorted(i["image"] for i in everything.items) == sorted(ids[k] for k in ("a2", "a4", "b6", "b8"))
    assert everything.n_images == 4 and everything.name == "global"
    row = next(i for i in everything.items if i["image"] == ids["b6"])
    assert (row["task"], row["generator"]) == ("inpainting", "gen-b 1.0") and row["mask_sha256"]

    by_generator = benchmark_create(scope="generator:gen-a", min_images=2)
    by_task = benchmark_create(scope="task:inpainting", min_images=2)
    assert sorted(i["image"] for i in by_generator.items) == sorted([ids["a2"], ids["a4"]])
    assert sorted(i["image"] for i in by_task.items) == sorted([ids["b6"], ids["b8"]])

    # Frozen: labelling the last test image later changes no benchmark.
    annotation_create(image=labelled_set["unlabelled"], user=annotator_user, no_artifacts=True)
    assert Benchmark.objects.get(pk=everything.pk).n_images == 4
    assert len(Benchmark.objects.get(pk=everything.pk).items) == 4
    # ... a new one (another name) sees it, as a clean image with no mask.
    later = benchmark_create(scope="global", name="global-later", min_images=1)
    assert later.n_images == 5 and any(i["mask_sha256"] == "" for i in later.items)


def test_bad_scopes_and_small_benchmarks_are_refused_with_a_reason(labelled_set):
    for scope, message in [("everything", "scope must be global"), ("generator:", "scope must be global"),
                           ("generator:nope", "no generator named 'nope'"), ("task:nope", "no synthesis task")]:
        with pytest.raises(ApplicationError, match=message):
            benchmark_create(scope=scope, min_images=1)
    with pytest.raises(ApplicationError, match=r"4 human-labelled image\(s\) in the global test split, fewer than "
                                               r"the 5 asked for"):
        benchmark_create(scope="global", min_images=5)
    benchmark_create(scope="global", min_images=4)
    with pytest.raises(ApplicationError, match="already exists"):
        benchmark_create(scope="global", min_images=1)
    assert Benchmark.objects.count() == 1


def test_the_cli_creates_and_refuses(labelled_set, capsys):
    call_command("benchmark_create", "task:inpainting", "--min-images", "2")
    assert "created benchmark 'task:inpainting'" in capsys.readouterr().out
    with pytest.raises(CommandError, match=r"benchmark_create: generator:gen-a: 2 human-labelled .* fewer than the 30"):
        call_command("benchmark_create", "generator:gen-a", "--min-images", "30")
    assert list(Benchmark.objects.values_list("scope", flat=True)) == ["task:inpainting"]


def _left_half_model(tmp_path, settings) -> ModelVersion:
    settings.FLAWMAP_MODEL_CACHE_DIR = str(tmp_path / "cache")
    settings.FLAWMAP_ML_DEVICE = "cpu"
    return model_register(kind="segmenter", name="left-half", checkpoint_path=left_half_torchscript(tmp_path / "lh.pt"))


def test_a_registered_model_is_scored_on_every_benchmark_with_hand_computed_numbers(
        labelled_set, tmp_path, settings, django_capture_on_commit_callbacks):
    benchmark_create(scope="global", min_images=4)
    benchmark_create(scope="generator:gen-a", min_images=2)
    with django_capture_on_commit_callbacks(execute=True):
        model = _left_half_model(tmp_path, settings)  # announced on commit -> a benchmark_score job (eager)
    assert Job.objects.get(kind="benchmark_score").status == "succeeded"
    scores = {s.benchmark.scope: s for s in BenchmarkScore.objects.filter(model_version=model)}
    assert set(scores) == {"global", "generator:gen-a"}

    # An image with r labelled rows, predicted as its left 12 columns: tp 12r, fp 12(16 - r), fn 12r.
    items = {i["image"]: i for i in scores["global"].items}
    for key, r in (("a2", 2), ("a4", 4), ("b6", 6), ("b8", 8)):
        row = items[labelled_set[key].pk]
        assert (row["tp"], row["fp"], row["fn"]) == (12 * r, 12 * (16 - r), 12 * r)
        assert (row["inter"], row["union"]) == (12 * r, 12 * 16 + 12 * r)
    m = scores["global"].metrics
    # IoU = Σ12r / Σ12(16 + r) = 20 / 84; F1 = 2Σtp / (2Σtp + Σfp + Σfn) = 40 / 104
    assert m["iou"] == pytest.approx(20 / 84, abs=1e-6) and m["f1"] == pytest.approx(40 / 104, abs=1e-6)
    assert m["n_images"] == 4
    assert m["per_task"]["text_to_image"]["iou"] == pytest.approx(6 / 38, abs=1e-6)
    assert m["per_task"]["inpainting"]["iou"] == pytest.approx(14 / 46, abs=1e-6)
    assert m["per_generator"]["gen-a 1.0"]["n"] == 2 and m["per_generator"]["gen-b 1.0"]["f1"] == pytest.approx(
        28 / (28 + 18 + 14), abs=1e-6)
    for summary in (m, *m["per_task"].values(), *m["per_generator"].values()):
        low, high = summary["iou_ci"]
        assert low <= summary["iou"] <= high and low < high  # the rows differ per image: a real spread
        assert summary["f1_ci"][0] <= summary["f1"] <= summary["f1_ci"][1]
    assert scores["generator:gen-a"].metrics["iou"] == pytest.approx(6 / 38, abs=1e-6)

    # Scoring again adds nothing; a new benchmark is scored for every segmenter when it is created.
    assert model_benchmarks_score(model_version=model) == []
    with django_capture_on_commit_callbacks(execute=True):
        benchmark_create(scope="task:inpainting", min_images=2)
    assert BenchmarkScore.objects.get(model_version=model, benchmark__scope="task:inpainting").metrics["iou"] == \
        pytest.approx(14 / 46, abs=1e-6)


def test_no_benchmark_no_scoring_job(labelled_set, tmp_path, settings, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _left_half_model(tmp_path, settings)
    assert not Job.objects.filter(kind="benchmark_score").exists()


def test_the_api_lists_benchmarks_and_shows_each_models_scores(
        labelled_set, tmp_path, settings, viewer_client, django_capture_on_commit_callbacks):
    benchmark_create(scope="global", min_images=4)
    with django_capture_on_commit_callbacks(execute=True):
        model = _left_half_model(tmp_path, settings)
    listed = viewer_client.get("/api/benchmarks/").json()
    assert [(b["scope"], b["n_images"], b["min_images"]) for b in listed["results"]] == [("global", 4, 4)]
    assert "items" not in listed["results"][0]

    detail = viewer_client.get(f"/api/models/{model.pk}/").json()
    [score] = detail["benchmarks"]
    assert score["scope"] == "global" and score["n_images"] == 4
    assert score["iou"] == pytest.approx(20 / 84, abs=1e-6) and len(score["iou_ci"]) == 2
    assert set(score["per_task"]) == {"text_to_image", "inpainting"}
    assert set(score["per_generator"]["gen-a 1.0"]) == {"iou", "iou_ci", "f1", "f1_ci", "n"}
    [row] = viewer_client.get("/api/models/?kind=segmenter").json()["results"]
    assert row["benchmarks"] == detail["benchmarks"]
    assert viewer_client.get("/api/models/?kind=nope").status_code == 400


def test_the_dashboard_models_page_shows_the_score_table(
        labelled_set, tmp_path, settings, client, viewer_user, django_capture_on_commit_callbacks):
    benchmark_create(scope="global", min_images=4)
    with django_capture_on_commit_callbacks(execute=True):
        _left_half_model(tmp_path, settings)
    client.force_login(viewer_user)
    page = client.get("/dashboard/models/").content.decode()
    row = page.split('data-benchmark="global"', 1)[1].split("</tr>", 1)[0]
    score = BenchmarkScore.objects.get()
    low, high = score.metrics["iou_ci"]
    assert f"<td>{20 / 84:.3f} [{low:.2f}, {high:.2f}]</td>" in row and f"{40 / 104:.3f}" in row
    assert "inpainting " in row and "gen-a 1.0 " in row and "(n=2)" in row
