import csv
import json

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from PIL import Image

from backend.mlmodels.services import model_promote, model_register
from ml.segmentation.predictor import Predictor
from tests.conftest import png_bytes
from tests.factories import make_image


def test_rank_orders_a_folder_by_predicted_par_and_lists_flagged_regions(trained, tmp_path, capsys):
    checkpoint = trained[0] / "best.pth"
    folder = tmp_path / "imgs"
    (folder / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(7):
        h, w = int(rng.integers(40, 90)), int(rng.integers(40, 90))
        target = folder / ("sub" if i % 2 else "") / f"{i}.png"
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(target)
    (folder / "broken.jpg").write_bytes(b"junk")
    out, regions = tmp_path / "ranked.csv", tmp_path / "regions.json"
    with pytest.raises(SystemExit) as exc:  # some skipped
        call_command("rank", str(folder), "--checkpoint", str(checkpoint), "--out", str(out), "--regions",
                     str(regions), "--min-area", "1", "--device", "cpu")
    assert exc.value.code == 2 and "broken.jpg" in capsys.readouterr().err
    rows = list(csv.DictReader(open(out)))
    assert [int(r["rank"]) for r in rows] == list(range(1, 8))
    pars = [float(r["par"]) for r in rows]
    assert pars == sorted(pars)
    predictor = Predictor(checkpoint, device="cpu")
    for row in rows:
        assert float(row["par"]) == pytest.approx(predictor.predict([folder / row["name"]]).par[0], abs=1e-6)
    flagged = json.loads(regions.read_text())
    assert sorted(flagged) == sorted(r["name"] for r in rows)
    for name, entry in flagged.items():
        area = sum(r["area"] for r in entry["regions"])
        assert area == pytest.approx(entry["par"] * entry["width"] * entry["height"], abs=0.5)
        assert all(0 <= r["x1"] < r["x2"] <= entry["width"] and 0 <= r["y1"] < r["y2"] <= entry["height"]
                   for r in entry["regions"])


@pytest.mark.django_db
def test_rank_ingested_real_photos_with_the_production_segmenter(trained, tmp_path, settings, capsys):
    settings.FLAWMAP_MODEL_CACHE_DIR = str(tmp_path / "cache")
    model_promote(model_version=model_register(kind="segmenter", name="s", checkpoint_path=trained[0] / "best.pth"))
    photos = [make_image(data=png_bytes(width=48, height=40, seed=s), task_slug="real_photo") for s in range(3)]
    make_image(data=png_bytes(seed=9))  # another task: not ranked
    regions = tmp_path / "regions.json"
    call_command("rank", "--task", "real_photo", "--regions", str(regions), "--device", "cpu")
    rows = list(csv.DictReader(capsys.readouterr().out.splitlines()))
    assert sorted(r["name"] for r in rows) == sorted(f"images/{p.pk}" for p in photos)
    assert set(json.loads(regions.read_text())) == {r["name"] for r in rows}


@pytest.mark.django_db
def test_rank_bad_arguments(tmp_path, trained):
    with pytest.raises(CommandError, match="give a folder or --task"):
        call_command("rank")
    with pytest.raises(CommandError, match="no such folder"):
        call_command("rank", str(tmp_path / "missing"), "--checkpoint", str(trained[0] / "best.pth"))
    with pytest.raises(CommandError, match="unknown synthesis task 'nope'"):
        call_command("rank", "--task", "nope")
    with pytest.raises(CommandError, match="no production segmenter"):
        call_command("rank", "--task", "real_photo")
    with pytest.raises(CommandError, match="checkpoint not found"):
        call_command("rank", str(tmp_path), "--checkpoint", str(tmp_path / "x.pth"))
    (tmp_path / "only").mkdir()
    (tmp_path / "only" / "bad.png").write_bytes(b"junk")
    with pytest.raises(CommandError, match="nothing could be ranked"):
        call_command("rank", str(tmp_path / "only"), "--checkpoint", str(trained[0] / "best.pth"), "--device", "cpu")
