import csv

import numpy as np
import pytest
from PIL import Image

from ml.rectify.__main__ import main as rectify_main
from ml.segmentation.predictor import Predictor


def _images(folder, n, rng):
    sizes = {}
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        h, w = int(rng.integers(48, 100)), int(rng.integers(48, 100))
        name = f"img_{i:02d}.{'jpg' if i % 2 else 'png'}"
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(folder / name)
        sizes[name] = (h, w)
    return sizes


@pytest.mark.parametrize("mode", ["zoom", "whole"])
def test_cli_writes_fixed_images_and_before_after_par_and_skips_a_corrupt_one(tmp_path, trained, capsys, mode):
    checkpoint = trained[0] / "best.pth"
    src, out = tmp_path / "in", tmp_path / "out"
    sizes = _images(src / "sub", 5, np.random.default_rng(0))
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    code = rectify_main(["--checkpoint", str(checkpoint), "--input", str(src), "--output", str(out), "--mode", mode,
                         "--backend", "opencv-ns", "--dilate", "3", "--working-size", "64", "--batch-size", "2",
                         "--device", "cpu"])
    captured = capsys.readouterr()
    assert code == 1 and "broken.png" in captured.err  # some fixed, one skipped
    assert "mean PAR" in captured.out
    rows = {r["name"]: r for r in csv.DictReader(open(out / "rectify.csv"))}
    assert sorted(rows) == sorted(f"sub/{name}" for name in sizes)
    predictor = Predictor(checkpoint, device="cpu")
    for name, (h, w) in sizes.items():
        fixed = np.asarray(Image.open(out / "sub" / (name.rsplit(".", 1)[0] + ".png")))
        assert fixed.shape == (h, w, 3)
        row = rows[f"sub/{name}"]
        before = predictor.predict([src / "sub" / name]).par[0]
        assert float(row["par_before"]) == pytest.approx(before, abs=1e-6)
        assert float(row["par_after"]) == pytest.approx(predictor.predict([fixed]).par[0], abs=1e-6)
        assert int(row["components"]) >= (1 if before > 0 else 0) and float(row["seconds"]) >= 0


def test_cli_exit_status_2_for_bad_arguments_and_when_nothing_is_fixed(tmp_path, trained, capsys):
    checkpoint = str(trained[0] / "best.pth")
    assert rectify_main(["--checkpoint", checkpoint, "--input", str(tmp_path / "missing"),
                         "--output", str(tmp_path / "out")]) == 2
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jpg").write_bytes(b"not an image")
    assert rectify_main(["--checkpoint", checkpoint, "--input", str(tmp_path / "in"), "--output", str(tmp_path / "o"),
                         "--backend", "lama"]) == 2
    assert "unknown inpainting backend" in capsys.readouterr().err
    assert rectify_main(["--checkpoint", checkpoint, "--input", str(tmp_path / "in"), "--output", str(tmp_path / "o"),
                         "--backend", "diffusers-sd", "--inpaint-model", ""]) == 2
    assert "local Stable Diffusion" in capsys.readouterr().err
    assert rectify_main(["--checkpoint", checkpoint, "--input", str(tmp_path / "in"), "--output", str(tmp_path / "o"),
                         "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "a.jpg" in err and "nothing could be fixed" in err
    with pytest.raises(SystemExit) as exc:
        rectify_main(["--checkpoint", checkpoint, "--input", str(tmp_path / "in"), "--output", "o", "--mode", "tile"])
    assert exc.value.code == 2
    for bad in (["--batch-size", "0"], ["--dilate", "-1"]):  # the shared folder-tool checks and rectify's own
        with pytest.raises(SystemExit) as exc:
            rectify_main(["--checkpoint", checkpoint, "--input", str(tmp_path / "in"), "--output", "o", *bad])
        assert exc.value.code == 2
        assert bad[0] in capsys.readouterr().err
