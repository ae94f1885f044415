import json
from io import StringIO

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from backend.annotations.models import MaskLabel
from backend.images.models import ConditionalInput, GeneratedImage
from tests.backend.storage_checks import assert_storage_matches_tables
from tests.conftest import mask_bytes, png_bytes
from tests.factories import GeneratorFactory

pytestmark = pytest.mark.django_db


def run_ingest(*args) -> tuple[int, dict]:
    out = StringIO()
    code = 0
    try:
        call_command("ingest", *map(str, args), "--json", stdout=out)
    except SystemExit as exc:
        code = exc.code
    return code, json.loads(out.getvalue())


@pytest.fixture
def generator():
    return GeneratorFactory(name="sd15", version="")


def make_folder(root, n_good: int):
    (root / "sub").mkdir(parents=True)
    for i in range(n_good):
        folder = root if i % 2 else root / "sub"
        (folder / f"img_{i:03d}.png").write_bytes(png_bytes(24, 16, seed=i))
    (root / "not_an_image.png").write_bytes(b"hello, I am text")
    (root / "truncated.png").write_bytes(png_bytes(64, 64, seed=999)[:200])
    (root / "bomb.png").write_bytes(png_bytes(400, 300, seed=998))


def test_folder_with_bad_files_stores_good_ones_and_reports_bad(tmp_path, generator, settings):
    settings.FLAWMAP_MAX_PIXELS = 100_000  # bomb.png is 120k pixels
    make_folder(tmp_path / "batch", 200)
    code, report = run_ingest(tmp_path / "batch", "--generator", "sd15", "--task", "text_to_image")
    assert code == 2
    assert report["ingested"] == 200 and report["duplicates"] == 0
    reasons = {r["path"].rsplit("/", 1)[-1]: r["error"] for r in report["rejected"]}
    assert set(reasons) == {"not_an_image.png", "truncated.png", "bomb.png"}
    assert "not an image" in reasons["not_an_image.png"]
    assert "truncated" in reasons["truncated.png"]
    assert "FLAWMAP_MAX_PIXELS" in reasons["bomb.png"]
    assert GeneratedImage.objects.count() == 200
    assert_storage_matches_tables()

    code, again = run_ingest(tmp_path / "batch", "--generator", "sd15", "--task", "text_to_image")
    assert again["ingested"] == 0 and again["duplicates"] == 200 and len(again["rejected"]) == 3
    assert GeneratedImage.objects.count() == 200
    assert_storage_matches_tables()


def test_pal4vst_layout_brings_human_masks(tmp_path, generator):
    root = tmp_path / "pal"
    for split in ("train", "test"):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
        mask = np.zeros((16, 24), dtype=np.uint8)
        mask[:4, :6] = 1
        (root / "images" / split / f"{split}_a.png").write_bytes(png_bytes(24, 16, seed=hash(split) % 100))
        (root / "labels" / split / f"{split}_a.png").write_bytes(mask_bytes(mask, scale=1))
    code, report = run_ingest(root, "--generator", "sd15", "--task", "inpainting")
    assert code == 0 and report == {"ingested": 2, "duplicates": 0, "rejected": []}
    labels = MaskLabel.objects.select_related("annotation__user")
    assert labels.count() == 2
    assert {m.par for m in labels} == {24 / (16 * 24)}
    assert {m.annotation.user.username for m in labels} == {"import"}
    assert GeneratedImage.objects.filter(is_labelled=True).count() == 2


def test_manifest_metadata_and_conditional_inputs(tmp_path, generator):
    root = tmp_path / "m"
    (root / "cond").mkdir(parents=True)
    (root / "a.png").write_bytes(png_bytes(24, 16, seed=1))
    (root / "b.png").write_bytes(png_bytes(24, 16, seed=2))
    (root / "cond" / "a_edge.png").write_bytes(png_bytes(24, 16, seed=3, mode="L"))
    manifest = root / "manifest.jsonl"
    manifest.write_text("\n".join([
        json.dumps({"path": "a.png", "prompt": "a dog", "seed": 42, "domain": "animal",
                    "conditional_inputs": [{"role": "edge", "path": "cond/a_edge.png"}]}),
        json.dumps({"path": "b.png", "seed": "not-a-number"}),
        "{broken json",
        json.dumps({"path": "missing.png"}),
    ]) + "\n")
    code, report = run_ingest(root, "--generator", "sd15", "--task", "edge_to_image", "--manifest", manifest)
    assert code == 2 and report["ingested"] == 1
    errors = sorted(r["error"] for r in report["rejected"])
    assert len(errors) == 3
    assert any("seed must be an integer" in e for e in errors)
    assert any("not valid JSON" in e for e in errors)
    assert any("no such file" in e for e in errors)
    assert any(r["path"].endswith("manifest.jsonl:3") for r in report["rejected"])
    image = GeneratedImage.objects.get()
    assert (image.prompt, image.seed, image.domain) == ("a dog", 42, "animal")
    assert ConditionalInput.objects.get().role == "edge"  # the edge map was not ingested as an image
    assert_storage_matches_tables()


def test_unknown_generator_or_task_fails_with_clear_message(tmp_path, generator):
    (tmp_path / "x.png").write_bytes(png_bytes())
    with pytest.raises(CommandError, match="unknown generator 'nope'"):
        call_command("ingest", str(tmp_path), "--generator", "nope", "--task", "other")
    with pytest.raises(CommandError, match="unknown synthesis task 'bogus'"):
        call_command("ingest", str(tmp_path), "--generator", "sd15", "--task", "bogus")
    with pytest.raises(CommandError, match="no such file or directory"):
        call_command("ingest", str(tmp_path / "nowhere"), "--generator", "sd15", "--task", "other")
    assert not GeneratedImage.objects.exists()


def test_json_output_is_exactly_one_object(tmp_path, generator, capsys):
    (tmp_path / "x.png").write_bytes(png_bytes())
    out = StringIO()
    call_command("ingest", str(tmp_path), "--generator", "sd15", "--task", "other", "--json", stdout=out)
    lines = [line for line in out.getvalue().splitlines() if line.strip()]
    assert len(lines) == 1 and json.loads(lines[0]) == {"ingested": 1, "duplicates": 0, "rejected": []}
