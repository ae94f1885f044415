"""Imported TorchScript models give probabilities and features: softmax of logits, flip votes of argmax maps."""

import numpy as np
import pytest
import torch

from ml.segmentation.checkpoint import CheckpointError
from ml.segmentation.predictor import PAL4VST_MEAN, PAL4VST_SIZE, PAL4VST_STD, Predictor
from ml.segmentation.torchscript import PROXY_GRID, output_kind
from ml.segmentation.uncertainty import mean_entropy, mean_margin
from tests.factories import left_half_torchscript, tiny_torchscript

S = PAL4VST_SIZE


def _images(n=3, size=S):
    """Noise images of different tints (so their colour statistics differ), already at the inference size."""
    rng = np.random.default_rng(0)
    return [np.clip(rng.integers(0, 256, (size, size, 3)) * 0.5 + np.array(tint) * 0.5, 0, 255).astype(np.uint8)
            for tint in [(250, 10, 10), (10, 250, 10), (10, 10, 250)][:n]]


def _logits(path, image: np.ndarray) -> torch.Tensor:
    """2 x S x S logits of the scripted model at `path` on one image, computed here from its definition."""
    x = (torch.from_numpy(image).permute(2, 0, 1)[None].float() - torch.tensor(PAL4VST_MEAN).view(1, 3, 1, 1))
    x = x / torch.tensor(PAL4VST_STD).view(1, 3, 1, 1)
    module = torch.jit.load(str(path))
    with torch.no_grad():
        out = module(x)
    return (out[0] if isinstance(out, tuple) else out)[0]


def test_a_logits_model_gives_softmax_probabilities_and_proxy_features(tmp_path):
    path = tiny_torchscript(tmp_path / "logits.pt", output="logits")
    predictor = Predictor(path, device="cpu")
    assert predictor.output == "logits" and predictor.gives_probabilities
    images = _images()
    results = list(predictor.iter_analyze(images))
    for image, (mask, prob, par, features) in zip(images, results):
        expected = _logits(path, image).softmax(dim=0)[1].numpy()
        assert prob.shape == (S, S) and np.allclose(prob, expected, atol=1e-5)
        assert 0 < prob.min() < prob.max() < 1  # real probabilities, not 0/1
        assert np.array_equal(mask, (prob >= 0.5).astype(np.uint8)) and par == pytest.approx(mask.mean())
        # proxy: p pooled to 8x8, then RGB mean and std in [0, 1]
        assert features.shape == (PROXY_GRID * PROXY_GRID + 6,)
        assert features[0] == pytest.approx(prob[: S // PROXY_GRID, : S // PROXY_GRID].mean(), abs=1e-5)
        assert np.allclose(features[-6:-3], image.reshape(-1, 3).mean(0) / 255, atol=1e-4)
        assert np.allclose(features[-3:], (image.reshape(-1, 3) / 255).std(0, ddof=1), atol=1e-4)
    assert mean_entropy(results[0][1]) > 0 and mean_margin(results[0][1]) < 1
    assert not np.allclose(results[0][3], results[1][3])  # different images, different descriptors
    assert predictor.description["output"] == "logits"


def test_an_argmax_model_gets_flip_vote_probabilities_and_keeps_its_own_mask(tmp_path):
    path = tiny_torchscript(tmp_path / "argmax.pt", output="argmax")
    predictor = Predictor(path, device="cpu")
    assert predictor.output == "labels" and not predictor.gives_probabilities
    image = _images(1)[0]
    mask, prob, par, features = next(predictor.iter_analyze([image]))
    own = _logits(tiny_torchscript(tmp_path / "same-weights.pt", output="logits"), image).argmax(dim=0).numpy()
    assert np.array_equal(mask, own.astype(np.uint8))  # the pre-label is the model's unflipped answer
    votes = [own]
    for axes in [(1,), (0,), (0, 1)]:
        flipped = np.ascontiguousarray(np.flip(image, axis=axes))
        answer = _logits(tmp_path / "same-weights.pt", flipped).argmax(dim=0).numpy()
        votes.append(np.flip(answer, axis=axes))
    assert np.allclose(prob, np.mean(votes, axis=0))
    assert set(np.unique(prob)) <= {0.0, 0.25, 0.5, 0.75, 1.0}
    disagreement = ((prob > 0) & (prob < 1)).mean()
    assert disagreement > 0  # the views disagree somewhere: that is the uncertainty
    assert mean_entropy(prob) > 0 and mean_margin(prob) < 1
    assert features.shape == (PROXY_GRID * PROXY_GRID + 6,) and features[:64].max() > 0


def test_a_model_blind_to_its_input_gets_one_half_everywhere(tmp_path):
    # Ignores its input and marks the left half: each flip moves the half, so every pixel gets 2 votes of 4.
    predictor = Predictor(left_half_torchscript(tmp_path / "end2end.pt"), device="cpu")
    mask, prob, _, _ = next(predictor.iter_analyze([np.zeros((100, 60, 3), np.uint8)]))
    assert mask[:, :30].all() and not mask[:, 30:].any()
    assert np.allclose(prob, 0.5) and mean_entropy(prob) == pytest.approx(1.0)


def test_a_feature_output_is_used_instead_of_the_proxy(tmp_path):
    path = tiny_torchscript(tmp_path / "features.pt", output="features")
    predictor = Predictor(path, device="cpu", batch_size=2)
    images = _images()
    results = list(predictor.iter_analyze(images))
    assert predictor.output == "logits"
    for image, (_, _, _, features) in zip(images, results):
        assert np.allclose(features, _logits(path, image).mean(dim=(1, 2)).numpy(), atol=1e-5)


def test_an_output_that_is_no_segmentation_is_refused_naming_its_shape(tmp_path):
    class Vector(torch.nn.Module):
        def forward(self, x):
            return x.mean(dim=(2, 3))

    path = tmp_path / "vector.pt"
    torch.jit.script(Vector()).save(str(path))
    predictor = Predictor(path, device="cpu")
    with pytest.raises(CheckpointError, match=r"output of shape \(1, 3\) is not a segmentation"):
        predictor.predict([np.zeros((8, 8, 3), np.uint8)])


@pytest.mark.parametrize(("tensor", "kind"), [
    (torch.zeros(2, 2, 4, 4), "logits"),
    (torch.zeros(2, 4, 4, dtype=torch.long), "labels"),
    (torch.ones(2, 1, 4, 4), "labels"),
    (torch.full((2, 4, 4), 0.3), "probabilities"),
    (torch.full((2, 1, 4, 4), -2.0), "logit"),
])
def test_output_kinds(tensor, kind):
    assert output_kind(tensor) == kind
