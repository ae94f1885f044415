"""ml.synthetic: photos with synthetic artifacts and exact masks (no Django)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ml.synthetic import (
    ARTIFACT_KINDS,
    generate_dataset,
    load_photo,
    load_sample_photos,
    make_artifact_sample,
    random_crop,
)
from ml.synthetic.__main__ import main
from ml.synthetic.artifacts import MIN_PIXEL_DELTA, apply_kind, random_blob
from ml.synthetic.dataset import assign_splits
from ml.synthetic.photos import PHOTOS_BY_URI

REPO_ROOT = Path(__file__).resolve().parents[2]
MANIFEST_KEYS = {"path", "prompt", "seed", "domain", "source_uri", "artifact_kinds"}


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("ml.synthetic tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture(scope="module")
def photos():
    return load_sample_photos()


def _altered(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(np.int16) - b.astype(np.int16)).max(axis=-1) >= MIN_PIXEL_DELTA


def _read(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im)


# --------------------------------------------------------------------------- photos


def test_sample_photos_are_local_rgb(no_network, photos):
    assert {"skimage:astronaut", "skimage:chelsea", "sklearn:china.jpg"} <= set(photos)
    for uri, photo in photos.items():
        assert photo.dtype == np.uint8 and photo.ndim == 3 and photo.shape[2] == 3, uri
        assert min(photo.shape[:2]) >= 256, uri
        assert not photo.flags.writeable  # shared cache must not be edited in place
        assert PHOTOS_BY_URI[uri].domain in {"animal", "person", "object", "scene"}
    assert load_photo("skimage:coffee") is photos["skimage:coffee"]


# --------------------------------------------------------------------------- samples


@pytest.mark.parametrize("seed", range(24))
def test_sample_changes_only_inside_mask(photos, seed):
    uri = list(photos)[seed % len(photos)]
    size = 128
    clean = random_crop(np.random.default_rng(seed), photos[uri], size)
    image, mask, kinds = make_artifact_sample(np.random.default_rng(seed), photos[uri], size)

    assert image.shape == (size, size, 3) and image.dtype == np.uint8
    assert mask.shape == (size, size) and mask.dtype == np.uint8
    assert set(np.unique(mask)) <= {0, 1}
    assert 1 <= len(kinds) <= 3 and set(kinds) <= set(ARTIFACT_KINDS)
    assert len(set(kinds)) == len(kinds)

    outside = mask == 0
    assert np.array_equal(image[outside], clean[outside])
    assert 0 < mask.mean() <= 0.3
    # Each kept artifact altered most of its blob; the union must show that too.
    assert _altered(image, clean)[mask == 1].mean() >= 0.5


def test_artifact_free_sample_is_the_clean_crop(photos):
    photo = photos["skimage:astronaut"]
    clean = random_crop(np.random.default_rng(7), photo, 96)
    image, mask, kinds = make_artifact_sample(np.random.default_rng(7), photo, 96, n_artifacts=0)
    assert kinds == []
    assert not mask.any()
    assert np.array_equal(image, clean)


@pytest.mark.parametrize("kind", ARTIFACT_KINDS)
def test_each_kind_alters_blob_and_nothing_else(photos, kind):
    rng = np.random.default_rng(123)
    clean = random_crop(rng, photos["skimage:astronaut"], 128)
    blob = random_blob(rng, clean.shape[:2], 0.08)
    out = apply_kind(rng, kind, clean, blob)
    assert out is not None and out.dtype == np.uint8
    assert np.array_equal(out[~blob], clean[~blob])
    assert _altered(out, clean)[blob].mean() > 0.3


def test_blob_is_one_solid_region_of_requested_area():
    from scipy import ndimage

    rng = np.random.default_rng(5)
    for par in (0.01, 0.05, 0.12):
        blob = random_blob(rng, (200, 200), par)
        _, n_parts = ndimage.label(blob)
        assert n_parts == 1
        assert np.array_equal(ndimage.binary_fill_holes(blob), blob)
        assert 0.3 * par <= blob.mean() <= par * 1.05


def test_par_mostly_in_target_range(photos):
    uris = list(photos)
    pars = np.array([
        make_artifact_sample(np.random.default_rng(s), photos[uris[s % len(uris)]], 96)[1].mean()
        for s in range(100)
    ])
    in_range = (pars >= 0.01) & (pars <= 0.25)
    assert in_range.mean() >= 0.85
    assert 0.02 <= pars.mean() <= 0.15


# --------------------------------------------------------------------------- dataset


def test_dataset_layout_and_labels(tmp_path, no_network):
    records = generate_dataset(tmp_path, n=24, size=64, seed=1)
    assert len(records) == 24

    manifest = [json.loads(line) for line in (tmp_path / "manifest.jsonl").read_text().splitlines()]
    assert [m["path"] for m in manifest] == [r["path"] for r in records]
    assert len({m["path"] for m in manifest}) == 24

    for rec, line in zip(records, manifest):
        assert set(line) == MANIFEST_KEYS
        assert {k: rec[k] for k in MANIFEST_KEYS} == line
        assert isinstance(line["seed"], int) and isinstance(line["prompt"], str) and line["prompt"]
        assert line["source_uri"] in PHOTOS_BY_URI
        assert line["domain"] == PHOTOS_BY_URI[line["source_uri"]].domain
        split = rec["split"]
        assert line["path"].startswith(f"images/{split}/") and line["path"].endswith(".png")

        with Image.open(tmp_path / line["path"]) as im:
            assert im.mode == "RGB" and im.size == (64, 64)
        label_path = tmp_path / line["path"].replace("images/", "labels/", 1)
        with Image.open(label_path) as lab:
            assert lab.mode == "L" and lab.size == (64, 64)
            label = np.asarray(lab)
        assert set(np.unique(label)) <= {0, 1}
        assert rec["par"] == pytest.approx(label.mean(), abs=1e-6)
        assert bool(line["artifact_kinds"]) == bool(label.any())

    images = sorted(p.relative_to(tmp_path / "images") for p in (tmp_path / "images").rglob("*.png"))
    labels = sorted(p.relative_to(tmp_path / "labels") for p in (tmp_path / "labels").rglob("*.png"))
    assert images == labels and len(images) == 24

    counts = {s: sum(r["split"] == s for r in records) for s in ("train", "val", "test")}
    assert counts == {"train": 20, "val": 2, "test": 2}
    assert sum(not r["artifact_kinds"] for r in records) == 2
    assert len({r["source_uri"] for r in records}) == len(load_sample_photos())


def test_recorded_seed_reproduces_the_image(tmp_path):
    records = generate_dataset(tmp_path, n=8, size=64, seed=4)
    for rec in records:
        photo = load_photo(rec["source_uri"])
        image, mask, kinds = make_artifact_sample(
            np.random.default_rng(rec["seed"]), photo, 64,
            n_artifacts=None if rec["artifact_kinds"] else 0,
        )
        assert kinds == rec["artifact_kinds"]
        assert np.array_equal(image, _read(tmp_path / rec["path"]))


def test_same_seed_gives_identical_bytes(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate_dataset(a, n=10, size=64, seed=3)
    generate_dataset(b, n=10, size=64, seed=3)
    generate_dataset(c, n=10, size=64, seed=4)

    def tree(root: Path) -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

    assert tree(a) == tree(b)
    assert tree(a) != tree(c)


def test_split_proportions():
    splits = assign_splits(200, np.random.default_rng(0))
    assert (splits.count("train"), splits.count("val"), splits.count("test")) == (160, 20, 20)
    assert splits == assign_splits(200, np.random.default_rng(0))
    assert assign_splits(1, np.random.default_rng(0)) == ["train"]
    small = assign_splits(3, np.random.default_rng(0))
    assert small.count("train") >= 1


def test_non_empty_dir_needs_overwrite(tmp_path):
    (tmp_path / "keep.txt").write_text("user file")
    with pytest.raises(FileExistsError):
        generate_dataset(tmp_path, n=2, size=64)
    generate_dataset(tmp_path, n=6, size=64, overwrite=True)
    generate_dataset(tmp_path, n=3, size=64, overwrite=True)
    assert (tmp_path / "keep.txt").read_text() == "user file"
    # A smaller rerun leaves no stale samples behind.
    assert len(list((tmp_path / "images").rglob("*.png"))) == 3
    assert len((tmp_path / "manifest.jsonl").read_text().splitlines()) == 3


# --------------------------------------------------------------------------- CLI


def test_cli_refuses_non_empty_out_dir(tmp_path):
    (tmp_path / "existing.txt").write_text("x")
    proc = subprocess.run(
        [sys.executable, "-m", "ml.synthetic", "--out", str(tmp_path), "--n", "2", "--size", "64"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert "not empty" in proc.stderr and "--force" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing.txt"]


def test_cli_prints_one_summary_line(tmp_path, capsys):
    out = tmp_path / "ds"
    assert main(["--out", str(out), "--n", "10", "--size", "64", "--seed", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    assert "train=8" in lines[0] and "val=1" in lines[0] and "test=1" in lines[0]
    assert "mean PAR=" in lines[0]

    assert main(["--out", str(out), "--n", "10", "--size", "64"]) == 2
    assert main(["--out", str(out), "--n", "4", "--size", "64", "--force"]) == 0


def test_kinds_restricts_the_artifacts_and_unknown_kinds_are_refused(tmp_path):
    from ml.synthetic import generate_dataset as generate

    records = generate(tmp_path / "only", n=8, size=64, seed=5, kinds=("noise", "blur"))
    used = {kind for r in records for kind in r["artifact_kinds"]}
    assert used and used <= {"noise", "blur"}
    with pytest.raises(ValueError, match="unknown artifact kind"):
        generate(tmp_path / "bad", n=2, size=64, kinds=("sparkles",))


def test_clean_fraction_sets_the_share_of_artifact_free_images(tmp_path):
    from ml.synthetic import generate_dataset as generate

    records = generate(tmp_path / "half", n=20, size=64, seed=3, clean_fraction=0.5)
    clean = [r for r in records if not r["artifact_kinds"]]
    assert len(clean) == 10 and all(r["par"] == 0 for r in clean)
    assert all(r["par"] > 0 for r in records if r["artifact_kinds"])
    with pytest.raises(ValueError, match="clean_fraction"):
        generate(tmp_path / "bad", n=4, size=64, clean_fraction=1.5)
    assert main(["--out", str(tmp_path / "cli"), "--n", "10", "--size", "64", "--clean-fraction", "0.3"]) == 0
    manifest = [json.loads(line) for line in (tmp_path / "cli" / "manifest.jsonl").read_text().splitlines()]
    assert sum(not r["artifact_kinds"] for r in manifest) == 3
