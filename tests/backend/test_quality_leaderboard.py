import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from backend.annotations.masks import mask_array_to_canonical
from backend.annotations.services import annotation_create
from backend.images.models import GeneratedImage
from backend.mlmodels.models import ModelVersion
from backend.quality.leaderboard import bootstrap_mean_ci
from tests.conftest import png_bytes
from tests.factories import GeneratorFactory, make_image

_seed = iter(range(100_000))


def test_bootstrap_ci_covers_the_true_mean_about_95_percent_of_the_time():
    # PAR-like data: many clean images (PAR 0) and a skewed tail, true mean known exactly.
    true_mean = 0.7 * 2 / (2 + 18)
    covered = 0
    trials = 200
    for seed in range(trials):
        rng = np.random.default_rng(1000 + seed)
        values = rng.beta(2, 18, 80) * (rng.random(80) < 0.7)
        low, high = bootstrap_mean_ci(values, resamples=1000, seed=seed)
        assert low <= values.mean() <= high
        covered += low <= true_mean <= high
    # Percentile bootstrap undercovers a little at n=80 with skewed data; it must still be close to 95 %.
    assert 0.88 <= covered / trials <= 0.99


def test_bootstrap_ci_is_reproducible_and_degenerates_sensibly():
    values = np.random.default_rng(0).random(50)
    assert bootstrap_mean_ci(values) == bootstrap_mean_ci(values)
    assert bootstrap_mean_ci([0.3]) == (0.3, 0.3)
    assert bootstrap_mean_ci(np.zeros(10)) == (0.0, 0.0)
    # a large group goes through in bounded chunks and gives a tight interval around the mean
    big = np.random.default_rng(1).random(30_000)
    low, high = bootstrap_mean_ci(big, resamples=400)
    assert low < big.mean() < high and high - low < 0.01


def images_with_pars(generator, pars, *, source="human", task_slug="text_to_image"):
    ids = []
    for par in pars:
        image = make_image(data=png_bytes(width=8, height=8, seed=next(_seed)), generator=generator,
                           task_slug=task_slug)
        ids.append(image.pk)
    for pk, par in zip(ids, pars):
        GeneratedImage.objects.filter(pk=pk).update(par=float(par), par_source=source)
    return ids


@pytest.mark.django_db
def test_leaderboard_ranks_generators_by_mean_par_with_cis_covering_the_true_means(viewer_client):
    rng = np.random.default_rng(7)
    good, bad = GeneratorFactory(name="good", version="2"), GeneratorFactory(name="bad", version="1")
    # good: 60 % artifact-free, the rest Beta(2, 30); bad: Beta(2, 8), never clean.
    good_pars = rng.beta(2, 30, 60) * (rng.random(60) < 0.4)
    bad_pars = rng.beta(2, 8, 60)
    images_with_pars(good, good_pars)
    images_with_pars(bad, bad_pars)
    images_with_pars(bad, [0.9, 0.8], task_slug="inpainting")
    images_with_pars(good, [0.0], source="model")  # a model PAR: not in the human board
    fixed = images_with_pars(bad, [0.0])  # a fixed image is not the generator's output
    GeneratedImage.objects.filter(pk__in=fixed).update(fix_par_before=0.5, fix_par_after=0.0)

    with CaptureQueriesContext(connection) as queries:
        response = viewer_client.get("/api/generators/leaderboard?source=human")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["source"] == "human" and "human" in body["scores"] and body["resamples"] == 2000
    rows = [r for r in body["rows"] if r["task"] == "text_to_image"]
    assert [(r["generator"]["name"], r["generator"]["version"], r["rank"]) for r in rows] == [("good", "2", 1),
                                                                                              ("bad", "1", 2)]
    for row, pars, true_mean in ((rows[0], good_pars, 0.4 * 2 / 32), (rows[1], bad_pars, 0.2)):
        assert row["images"] == 60
        assert row["mean_par"] == pytest.approx(pars.mean())
        low, high = row["ci95"]
        assert low < pars.mean() < high and low <= true_mean <= high
        assert row["artifact_free"] == int((pars == 0).sum())
        assert row["artifact_free_share"] == pytest.approx((pars == 0).mean())
    inpainting = [r for r in body["rows"] if r["task"] == "inpainting"]
    assert len(inpainting) == 1 and inpainting[0]["mean_par"] == pytest.approx(0.85)
    overall = {r["generator"]["name"]: r for r in body["generators"]}
    assert overall["bad"]["images"] == 62 and overall["bad"]["task"] is None and overall["good"]["rank"] == 1
    # 2 for the user's role check and session, then a bounded number for the board itself
    assert len(queries) <= 4, [q["sql"] for q in queries.captured_queries]
    assert viewer_client.get("/api/generators/leaderboard?task=inpainting").json()["rows"] == inpainting


@pytest.mark.django_db
def test_model_leaderboard_reads_model_masks_even_where_humans_labelled(viewer_client, annotator_user):
    gen = GeneratorFactory(name="g")
    production = ModelVersion.objects.create(kind="segmenter", name="seg", version="v1", status="production")
    older = ModelVersion.objects.create(kind="segmenter", name="seg", version="v0", status="retired")
    images = [make_image(data=png_bytes(width=10, height=10, seed=next(_seed)), generator=gen) for _ in range(3)]
    for image, rows in zip(images, (2, 5, 0)):
        mask = np.zeros((10, 10), bool)
        mask[:rows] = True
        annotation_create(image=image, model_version=production, mask=mask_array_to_canonical(mask))
        annotation_create(image=image, model_version=older, mask=mask_array_to_canonical(np.ones((10, 10))))
    annotation_create(image=images[0], user=annotator_user, mask=mask_array_to_canonical(np.zeros((10, 10))))

    body = viewer_client.get("/api/generators/leaderboard?source=model").json()
    assert body["source"] == "model" and body["model_version"] == production.pk and "seg@v1" in body["scores"]
    [row] = body["rows"]
    assert row["images"] == 3 and row["mean_par"] == pytest.approx((0.2 + 0.5 + 0.0) / 3)
    assert row["artifact_free"] == 1
    older_board = viewer_client.get(f"/api/generators/leaderboard?source=model&model_version={older.pk}").json()
    assert older_board["rows"][0]["mean_par"] == 1.0
    human = viewer_client.get("/api/generators/leaderboard?source=human").json()
    assert [r["images"] for r in human["rows"]] == [1] and human["rows"][0]["mean_par"] == 0.0


@pytest.mark.django_db
def test_leaderboard_errors_are_400(viewer_client):
    response = viewer_client.get("/api/generators/leaderboard?source=crowd")
    assert response.status_code == 400 and "source must be one of human, model" in response.json()["detail"]
    assert viewer_client.get("/api/generators/leaderboard?source=model&model_version=abc").status_code == 400
    response = viewer_client.get("/api/generators/leaderboard?source=model&model_version=424242")
    assert response.status_code == 400 and "no model version 424242" in response.json()["detail"]
    assert viewer_client.get("/api/generators/leaderboard").json()["rows"] == []
