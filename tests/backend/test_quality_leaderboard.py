import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from backend.annotations.masks import mask_array_to_canonical
from backend.annotations.services import annotation_create
from backend.images.models import GeneratedImage
from backend.mlmodels.models import ModelVersion
from ml.stats import bootstrap_ci, normal_mean_ci
from tests.conftest import png_bytes
from tests.factories import GeneratorFactory, make_image

_seed = iter(range(100_000))


def test_the_normal_interval_of_a_group_just_past_the_threshold_agrees_with_its_bootstrap(settings):
    # the default threshold: where the leaderboard switches, PAR-like skewed data (many zeros, a long tail)
    n = settings.FLAWMAP_LEADERBOARD_BOOTSTRAP_MAX_N + 1
    for seed in range(3):
        rng = np.random.default_rng(seed)
        values = rng.beta(2, 8, n) * (rng.random(n) < 0.5)
        boot = bootstrap_ci(values)
        normal = normal_mean_ci(mean=values.mean(), sd=values.std(ddof=1), n=n)
        width = normal[1] - normal[0]
        assert abs(boot[0] - normal[0]) < 0.05 * width and abs(boot[1] - normal[1]) < 0.05 * width


def images_with_pars(generator, pars, *, source="human", task_slug="text_to_image"):
    ids = []
    for par in pars:
        image = make_image(data=png_bytes(width=8, height=8, seed=next(_seed)), generator=generator,
                           task_slug=task_slug)
        ids.append(image.pk)
    for pk, par in zip(ids, pars):
        GeneratedImage.objects.filter(pk=pk).update(par=float(par), par_source=source)
    return ids


def two_generators() -> tuple[np.ndarray, np.ndarray]:
    """good and bad, 60 text_to_image images each; bad has 2 inpainting images more (0.9, 0.8)."""
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
    return good_pars, bad_pars


@pytest.mark.django_db
def test_leaderboard_ranks_generators_by_mean_par_with_cis_covering_the_true_means(viewer_client):
    good_pars, bad_pars = two_generators()
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
        assert low < pars.mean() < high and low <= true_mean <= high and row["ci_method"] == "bootstrap"
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
def test_groups_past_the_threshold_get_the_normal_interval_and_their_values_are_not_read(viewer_client, settings):
    good_pars, bad_pars = two_generators()
    bad_all = np.concatenate([bad_pars, [0.9, 0.8]])
    settings.FLAWMAP_LEADERBOARD_BOOTSTRAP_MAX_N = 61  # the 60-image groups bootstrap, bad over all tasks (62) not
    with CaptureQueriesContext(connection) as queries:
        body = viewer_client.get("/api/generators/leaderboard?source=human").json()
    assert body["bootstrap_max_n"] == 61 and len(queries) <= 4
    assert {(r["generator"]["name"], r["task"], r["ci_method"]) for r in body["rows"]} == {
        ("good", "text_to_image", "bootstrap"), ("bad", "text_to_image", "bootstrap"),
        ("bad", "inpainting", "bootstrap")}
    overall = {r["generator"]["name"]: r for r in body["generators"]}
    assert overall["good"]["ci_method"] == "bootstrap" and overall["good"]["ci95"] == list(bootstrap_ci(good_pars))
    # bad's pooled row: n, mean and sd combined from its two tasks' aggregates, as numpy finds them on all values
    assert overall["bad"]["ci_method"] == "normal" and overall["bad"]["images"] == 62
    assert overall["bad"]["mean_par"] == pytest.approx(bad_all.mean())
    assert overall["bad"]["ci95"] == pytest.approx(normal_mean_ci(mean=bad_all.mean(), sd=bad_all.std(ddof=1), n=62))

    settings.FLAWMAP_LEADERBOARD_BOOTSTRAP_MAX_N = 59  # now only the inpainting group bootstraps
    with CaptureQueriesContext(connection) as queries:
        body = viewer_client.get("/api/generators/leaderboard?source=human").json()
    assert {(r["generator"]["name"], r["task"], r["ci_method"]) for r in body["rows"]} == {
        ("good", "text_to_image", "normal"), ("bad", "text_to_image", "normal"), ("bad", "inpainting", "bootstrap")}
    [values_query] = [q["sql"] for q in queries.captured_queries if "STDDEV" not in q["sql"].upper()
                      and "generatedimage" in q["sql"].lower()]
    bad_id = next(r["generator"]["id"] for r in body["generators"] if r["generator"]["name"] == "bad")
    # the values read are the small group's only (bad × inpainting), not every scored image's
    assert f'"generator_id" = {bad_id} AND' in values_query and " OR " not in values_query.upper()
    good_row = next(r for r in body["rows"] if r["generator"]["name"] == "good")
    assert good_row["ci95"] == pytest.approx(normal_mean_ci(mean=good_pars.mean(), sd=good_pars.std(ddof=1), n=60))
    low, high = good_row["ci95"]
    assert low < good_pars.mean() < high and low <= 0.4 * 2 / 32 <= high

    settings.FLAWMAP_LEADERBOARD_BOOTSTRAP_MAX_N = 1  # every group is large: no value is read at all
    with CaptureQueriesContext(connection) as queries:
        body = viewer_client.get("/api/generators/leaderboard?source=human").json()
    assert {r["ci_method"] for r in body["rows"] + body["generators"]} == {"normal"}
    assert len([q for q in queries.captured_queries if "generatedimage" in q["sql"].lower()]) == 1


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
