"""The tiny offline VLM trains with LoRA on a vlm-jsonl export and its loss goes down."""

import json

from ml.vlm.model import load_tuned
from ml.vlm.predictor import VlmPredictor
from tests.vlm_support import CONSTANT_ANSWER


def test_tiny_model_loss_decreases_on_the_demo_export(vlm_demo_export, tiny_vlm_base, tmp_path):
    from ml.vlm.train import main

    out = tmp_path / "run"
    code = main(["--data", str(vlm_demo_export), "--base", str(tiny_vlm_base), "--out", str(out),
                 "--max-steps", "12", "--batch-size", "2", "--lr", "5e-3", "--device", "cpu"])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    losses = metrics["losses"]
    assert len(losses) == 12
    assert sum(losses[-3:]) / 3 < 0.8 * sum(losses[:3]) / 3, losses
    meta = json.loads((out / "flawmap_vlm.json").read_text())
    assert meta["base"] == str(tiny_vlm_base) and len(meta["base_fingerprint"]) == 64
    assert (out / "adapter" / "adapter_config.json").is_file()
    assert json.loads((out / "classes.json").read_text())[8][1] == "localized-blur"


def test_a_tuned_model_writes_what_it_learned(tiny_vlm_tuned, constant_export):
    out, metrics = tiny_vlm_tuned
    assert metrics["last_loss"] < 0.1 * metrics["first_loss"]
    predictor = VlmPredictor(load_tuned(out, device="cpu"), batch_size=4, max_new_tokens=48)
    images = sorted((constant_export / "images" / "test").glob("*.png"))
    for prediction in predictor.predict(images):
        assert prediction.raw.strip() == CONSTANT_ANSWER and not prediction.malformed
        assert prediction.regions == [{"bbox": [4, 6, 40, 30], "class": "localized-blur", "code": "9",
                                       "caption": "blurry patch"}]


def test_an_adapter_refuses_another_base(tiny_vlm_tuned, tmp_path):
    import pytest

    from ml.vlm.data import SYNARTIFACT_CLASSES
    from ml.vlm.model import ModelLoadError
    from ml.vlm.tiny import build_tiny_vlm

    other = build_tiny_vlm(tmp_path / "other", SYNARTIFACT_CLASSES, image_size=32, seed=1)
    with pytest.raises(ModelLoadError, match="another base"):
        load_tuned(tiny_vlm_tuned[0], base=str(other), device="cpu")
    with pytest.raises(ModelLoadError, match="nothing is downloaded"):
        load_tuned(tiny_vlm_tuned[0], base="no-such-org/no-such-model", device="cpu")
