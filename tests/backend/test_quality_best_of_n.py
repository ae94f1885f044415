import pytest

from backend.images.models import GeneratedImage
from tests.conftest import png_bytes
from tests.factories import GeneratorFactory, make_image

pytestmark = pytest.mark.django_db

_seed = iter(range(10_000))


def image_with_par(par, *, source="human", generator=None, prompt=""):
    image = make_image(data=png_bytes(width=16, height=16, seed=next(_seed)), generator=generator, prompt=prompt)
    GeneratedImage.objects.filter(pk=image.pk).update(par=par, par_source=source if par is not None else "")
    return image.pk


def test_best_of_n_picks_the_lowest_par_of_each_group_with_all_scores(viewer_client):
    a = [image_with_par(p) for p in (0.30, 0.05, 0.12)]
    b = [image_with_par(p) for p in (0.0, 0.4)]
    c = [image_with_par(None), image_with_par(0.2, source="model"), image_with_par(0.2, source="model")]
    response = viewer_client.post("/api/quality/best-of-n", {"groups": [a, b, c]}, format="json")
    assert response.status_code == 200, response.content
    groups = response.json()["groups"]
    assert [g["best"]["id"] for g in groups] == [a[1], b[0], c[1]]  # a tie goes to the lower id
    assert [x["par"] for x in groups[0]["candidates"]] == [0.05, 0.12, 0.30]
    assert groups[0]["best"] == {"id": a[1], "par": 0.05, "par_source": "human"}
    assert groups[2]["unscored"] == [c[0]] and groups[2]["par_sources"] == ["model"]
    assert not any(g["mixed_sources"] for g in groups)
    assert "human" in response.json()["scores"] and "model" in response.json()["scores"]


def test_a_group_mixing_human_and_model_par_says_so_and_one_without_scores_has_no_best(viewer_client):
    human, model, unscored = image_with_par(0.1), image_with_par(0.05, source="model"), image_with_par(None)
    groups = viewer_client.post("/api/quality/best-of-n", {"groups": [[human, model], [unscored]]},
                                format="json").json()["groups"]
    assert groups[0]["mixed_sources"] and groups[0]["par_sources"] == ["human", "model"]
    assert groups[1]["best"] is None and groups[1]["unscored"] == [unscored]


def test_group_by_prompt_over_a_filter_leaves_out_fixed_images(viewer_client):
    gen, other = GeneratorFactory(), GeneratorFactory()
    cats = [image_with_par(p, generator=gen, prompt="a cat") for p in (0.2, 0.1, 0.3)]
    dogs = [image_with_par(p, generator=gen, prompt="a dog") for p in (0.5, 0.25)]
    image_with_par(0.0, generator=other, prompt="a cat")  # another generator: filtered out
    image_with_par(0.0, generator=gen, prompt="")  # no prompt: no group
    fixed = image_with_par(0.0, generator=gen, prompt="a cat")
    GeneratedImage.objects.filter(pk=fixed).update(fixed_from_id=cats[1], fix_par_before=0.1, fix_par_after=0.0)
    response = viewer_client.post("/api/quality/best-of-n",
                                  {"group_by": "prompt", "filters": {"generator": gen.pk}}, format="json")
    assert response.status_code == 200, response.content
    groups = {g["key"]: g for g in response.json()["groups"]}
    assert sorted(groups) == ["a cat", "a dog"]
    assert groups["a cat"]["best"]["id"] == cats[1] and len(groups["a cat"]["candidates"]) == 3
    assert groups["a dog"]["best"]["id"] == dogs[1]


def test_best_of_n_errors_are_400_with_a_message(viewer_client):
    known = image_with_par(0.1)
    response = viewer_client.post("/api/quality/best-of-n", {"groups": [[known, 999_998], [999_999]]}, format="json")
    assert response.status_code == 400
    assert response.json()["detail"] == "unknown image ids: 999998, 999999"
    assert response.json()["unknown_ids"] == ["999998", "999999"]  # DRF errors carry strings
    for body in ({}, {"groups": [[known]], "group_by": "prompt"}, {"groups": [[]]}, {"group_by": "seed"}):
        response = viewer_client.post("/api/quality/best-of-n", body, format="json")
        assert response.status_code == 400, body
    response = viewer_client.post("/api/quality/best-of-n", {"group_by": "prompt", "filters": {"par_min": "x"}},
                                  format="json")
    assert response.status_code == 400 and "par_min" in response.json()
