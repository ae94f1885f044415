import csv

import numpy as np
import pytest
from PIL import Image

from ml.segmentation.checkpoint import CheckpointError
from ml.segmentation.predict import main as predict_main
from ml.segmentation.predictor import ImageReadError, Predictor
from tests.factories import left_half_torchscript


@pytest.fixture(scope="module")
def predictor(trained):
    return Predictor(trained[0] / "best.pth", device="cpu", batch_size=4)


def _folder_of_images(folder, n, rng):
    sizes = {}
    for i in range(n):
        h, w = int(rng.integers(40, 120)), int(rng.integers(40, 120))
        name = f"img_{i:02d}.{'jpg' if i % 3 == 0 else 'png'}"
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(folder / name)
        sizes[name] = (h, w)
    return sizes


def test_predict_cli_writes_a_mask_and_par_per_image_and_skips_a_corrupt_one(tmp_path, trained, capsys):
    rng = np.random.default_rng(0)
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    sizes = _folder_of_images(src, 20, rng)
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    code = predict_main(["--checkpoint", str(trained[0] / "best.pth"), "--input", str(src), "--output", str(out),
                         "--batch-size", "6", "--probs", "--device", "cpu"])
    captured = capsys.readouterr()
    assert code == 1  # some predicted, one skipped
    assert "broken.png" in captured.err
    rows = list(csv.DictReader(open(out / "par.csv")))
    assert sorted(r["name"] for r in rows) == sorted(sizes)
    for row in rows:
        stem = row["name"].rsplit(".", 1)[0]
        mask = np.asarray(Image.open(out / f"{stem}.png"))
        assert mask.shape == sizes[row["name"]]
        assert set(np.unique(mask)) <= {0, 255}
        assert float(row["par"]) == pytest.approx((mask == 255).mean(), abs=1e-6)
        prob = np.asarray(Image.open(out / "probs" / f"{stem}.png"))
        assert prob.shape == mask.shape and prob.dtype == np.uint8
        # the mask is the thresholded probability (up to uint8 rounding at the threshold)
        assert np.mean((prob >= 128) == (mask == 255)) > 0.99


def test_predict_cli_fails_when_nothing_could_be_predicted(tmp_path, trained, capsys):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jpg").write_bytes(b"not an image")
    code = predict_main(["--checkpoint", str(trained[0] / "best.pth"), "--input", str(tmp_path / "in"),
                         "--output", str(tmp_path / "out"), "--device", "cpu"])
    assert code == 2
    err = capsys.readouterr().err
    assert "a.jpg" in err and "nothing could be predicted" in err


def test_predict_cli_reports_a_missing_checkpoint(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    code = predict_main(["--checkpoint", str(tmp_path / "nope.pth"), "--input", str(tmp_path / "in"),
                         "--output", str(tmp_path / "out")])
    assert code == 2
    assert "checkpoint not found" in capsys.readouterr().err


def test_predictor_api_batches_like_single_images(predictor):
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 255, (64 + 8 * i, 80, 3), dtype=np.uint8) for i in range(5)]
    masks, probs, par = predictor.predict(images)
    assert [m.shape for m in masks] == [im.shape[:2] for im in images]
    single = Predictor(predictor.checkpoint, device="cpu", batch_size=1).predict(images)
    for a, b in zip(probs, single.probabilities):
        np.testing.assert_allclose(a, b, atol=1e-4)
    assert all(0.0 <= p <= 1.0 for p in par)
    assert all(((pr >= 0.5) == m.astype(bool)).all() for pr, m in zip(probs, masks))


def test_predictor_api_accepts_grey_and_rgba_and_names_bad_input(predictor, tmp_path):
    masks, _, _ = predictor.predict([np.zeros((30, 40), np.uint8), np.zeros((30, 40, 4), np.uint8)])
    assert [m.shape for m in masks] == [(30, 40), (30, 40)]
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"junk")
    with pytest.raises(ImageReadError, match="bad.png"):
        predictor.predict([bad])
    with pytest.raises(ImageReadError, match="shape"):
        predictor.predict([np.zeros((3, 4, 5), np.uint8)])


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        Predictor(tmp_path / "missing.pth")


def test_torchscript_end2end_models_are_accepted_and_resized_back(tmp_path):
    path = left_half_torchscript(tmp_path / "end2end.pt")
    scripted = Predictor(path, device="cpu")
    assert scripted.inference_size == 512 and not scripted.gives_probabilities
    masks, probs, par = scripted.predict([np.zeros((100, 60, 3), np.uint8)])
    assert masks[0].shape == (100, 60)
    assert masks[0][:, :30].all() and not masks[0][:, 30:].any()
    assert par[0] == pytest.approx(0.5)
