"""POST /api/reward: PAR from the production segmenter, artifacts from the production VLM, one reward each."""

import pytest

from backend.mlmodels.services import model_promote, model_register
from tests.conftest import png_bytes, upload
from tests.vlm_support import constant_export, tiny_vlm_base, tiny_vlm_tuned, vlm_demo_export  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def production_models(trained, tiny_vlm_tuned, settings, tmp_path):
    from ml.vlm.package import pack

    settings.FLAWMAP_MODEL_CACHE_DIR = str(tmp_path / "model-cache")
    settings.FLAWMAP_ML_DEVICE = "cpu"
    settings.VLM_MAX_NEW_TOKENS = 48
    segmenter = model_promote(model_version=model_register(
        kind="segmenter", name="unified", checkpoint_path=trained[0] / "best.pth"))
    vlm = model_promote(model_version=model_register(
        kind="vlm", name="vlm", checkpoint_path=pack(tiny_vlm_tuned[0], tmp_path / "vlm.tar")))
    return segmenter, vlm


def post(client, files, prompts=None):
    data = {"images": [upload(name, content) for name, content in files]}
    if prompts is not None:
        data["prompts"] = prompts
    return client.post("/api/reward", data, format="multipart")


def test_a_batch_of_sixteen_images_gets_par_classes_and_reward(viewer_client, production_models, settings):
    settings.REWARD_LAMBDA = 0.25
    settings.REWARD_SEVERITY = {"localized-blur": 2.0}
    files = [(f"sample-{i}.png", png_bytes(64, 64, seed=i)) for i in range(16)]
    response = post(viewer_client, files, prompts=[f"a cat, seed {i}" for i in range(16)])
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["models"] == {"segmenter": str(production_models[0]), "vlm": str(production_models[1])}
    assert "clip(1 - PAR" in body["formula"]
    results = body["results"]
    assert [r["index"] for r in results] == list(range(16))
    assert [r["name"] for r in results] == [name for name, _ in files]
    assert results[3]["prompt"] == "a cat, seed 3"
    for r in results:
        assert 0.0 <= r["par"] <= 1.0
        # the tuned tiny VLM answers one blur box for every image (see tests/vlm_support.py)
        assert r["artifact_classes"] == ["localized-blur"] and not r["vlm_malformed"]
        assert r["artifacts"] == [{"class": "localized-blur", "bbox": [4, 6, 40, 30], "caption": "blurry patch"}]
        assert r["reward"] == pytest.approx(max(-1.0, 1.0 - r["par"] - 0.25 * 2.0), abs=1e-6)


def test_a_bad_image_is_a_400_naming_it_and_nothing_runs(viewer_client, production_models):
    files = [("good.png", png_bytes(32, 32)), ("truncated.png", png_bytes(32, 32)[:60]), ("x.png", b"")]
    response = post(viewer_client, files)
    assert response.status_code == 400
    body = response.json()
    assert body["index"] == 1 and body["name"] == "truncated.png"
    assert "image 1 (truncated.png)" in body["detail"]


def test_limits_answer_413_and_prompts_must_match(viewer_client, production_models, settings):
    settings.REWARD_MAX_IMAGES = 3
    response = post(viewer_client, [(f"{i}.png", png_bytes(16, 16, seed=i)) for i in range(4)])
    assert response.status_code == 413 and "at most 3" in response.json()["detail"]
    settings.REWARD_MAX_IMAGES, settings.REWARD_MAX_BYTES = 64, 1000
    response = post(viewer_client, [("big.png", png_bytes(64, 64))])
    assert response.status_code == 413 and "REWARD_MAX_BYTES" in response.json()["detail"]
    settings.REWARD_MAX_BYTES, settings.REWARD_MAX_PIXELS = 10**7, 100
    response = post(viewer_client, [("wide.png", png_bytes(64, 64))])
    assert response.status_code == 400 and "REWARD_MAX_PIXELS" in response.json()["detail"]
    response = post(viewer_client, [("a.png", png_bytes(16, 16))], prompts=["one", "two"])
    assert response.status_code == 400 and "2 prompts for 1 images" in response.json()["detail"]
    assert viewer_client.post("/api/reward", {}, format="multipart").status_code == 400


def test_without_production_models_the_service_says_which_is_missing(viewer_client, trained, settings, tmp_path):
    settings.FLAWMAP_MODEL_CACHE_DIR = str(tmp_path / "model-cache")
    response = post(viewer_client, [("a.png", png_bytes(16, 16))])
    assert response.status_code == 503
    assert "no production segmenter" in response.json()["detail"] and "VLM" in response.json()["detail"]
    model_promote(model_version=model_register(kind="segmenter", name="u", checkpoint_path=trained[0] / "best.pth"))
    response = post(viewer_client, [("a.png", png_bytes(16, 16))])
    assert response.status_code == 503 and response.json()["detail"].startswith("no production VLM classifier")


def test_anonymous_callers_are_refused(client):
    assert client.post("/api/reward", {}).status_code in (401, 403)
