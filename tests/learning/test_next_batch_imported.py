"""Imported TorchScript models are first-class in active learning: every next-batch strategy ranks with one that
outputs logits and with one that outputs only the argmax (issue #22, item 5), against the real Label Studio."""

import io
from io import StringIO

import numpy as np
import pytest
from django.core.management import call_command
from PIL import Image

from annotator.models import Campaign
from backend.mlmodels.models import ImagePrediction, ModelVersion
from backend.mlmodels.prelabel import images_prelabel
from ml.active_learning import STRATEGIES
from tests.factories import GeneratorFactory, make_image, tiny_torchscript

pytestmark = pytest.mark.django_db

K = 2


def _tinted_png(i: int) -> bytes:
    """96x96 noise over one of several tints: images the proxy features can tell apart."""
    rng = np.random.default_rng(i)
    tint = np.array([(i * 67) % 256, (i * 131) % 256, (i * 29) % 256])
    pixels = np.clip(rng.integers(0, 256, (96, 96, 3)) * 0.5 + tint * 0.5, 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def _imported(tmp_path, output: str) -> ModelVersion:
    """A scripted model imported as an admin would: `model_register --promote`."""
    path = tiny_torchscript(tmp_path / f"{output}.pt", output=output)
    call_command("model_register", "--checkpoint", str(path), "--name", f"imported-{output}", "--promote",
                 stdout=StringIO())
    return ModelVersion.objects.get(kind="segmenter", name=f"imported-{output}")


@pytest.mark.parametrize("output", ["logits", "argmax"])
def test_every_strategy_ranks_with_an_imported_torchscript_model(output, campaign, annotator_client, settings,
                                                                 tmp_path):
    settings.FLAWMAP_MODEL_CACHE_DIR = str(tmp_path / "cache")
    model = _imported(tmp_path, output)
    assert model.status == ModelVersion.Status.PRODUCTION and model.config_name == "pal4vst-torchscript-512"
    images = [make_image(data=_tinted_png(i), generator=campaign.generator) for i in range(3 * K * len(STRATEGIES))]
    assert images_prelabel(model_version=model, image_ids=[im.pk for im in images])["predicted"] == len(images)
    preds = {p.image_id: p for p in ImagePrediction.objects.filter(model_version=model)}
    entropy = {i: p.entropy for i, p in preds.items()}
    assert len({round(e, 6) for e in entropy.values()}) > 1 and max(entropy.values()) > 0  # something to rank
    assert {len(p.features) for p in preds.values()} == {70}  # 8x8 pooled p(artifact) + RGB mean and std

    candidates = [im.pk for im in images]
    for strategy in STRATEGIES:
        r = annotator_client.post(f"/api/campaigns/{campaign.pk}/next-batch", {"k": K, "strategy": strategy},
                                  format="json")
        assert r.status_code == 200, (strategy, r.content)
        body = r.json()
        picked = [p["image"] for p in body["picked"]]
        assert len(set(picked)) == K and set(picked) <= set(candidates) and body["pushed"] == K, strategy
        if strategy == "uncertainty":
            assert picked == sorted(candidates, key=lambda i: (-entropy[i], candidates.index(i)))[:K]
            assert all(entropy[i] > 0 for i in picked)
        if strategy == "margin":
            assert picked == sorted(candidates, key=lambda i: (preds[i].margin, candidates.index(i)))[:K]
            assert all(preds[i].margin < 1 for i in picked)
        if strategy == "mix":  # each cluster's most uncertain, most uncertain first
            assert [entropy[i] for i in picked] == sorted((entropy[i] for i in picked), reverse=True)
        candidates = [i for i in candidates if i not in picked]


def test_diversity_on_predictions_without_features_is_a_400_saying_why(annotator_client):
    # Predictions stored before features were kept (an imported model used to give none).
    model = ModelVersion.objects.create(kind="segmenter", name="old", version="v1", status="production")
    campaign = Campaign.objects.create(name="featureless", generator=GeneratorFactory())
    for i in range(3):
        image = make_image(data=_tinted_png(i), generator=campaign.generator)
        ImagePrediction.objects.create(image=image, model_version=model, par=0.1, entropy=0.2, margin=0.6,
                                       features=[] if i else [0.1, 0.2])
    r = annotator_client.post(f"/api/campaigns/{campaign.pk}/next-batch", {"k": 2, "strategy": "diversity"},
                              format="json")
    assert r.status_code == 400
    assert "diversity needs a feature vector for every candidate" in r.json()["detail"]
    assert int(r.json()["featureless"]) == 2
