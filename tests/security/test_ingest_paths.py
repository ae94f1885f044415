"""Files from outside stay outside: a manifest or an ingest folder can name or link to any file on the machine,
and nothing of it may be read or stored."""

import json
import os

import pytest

from backend.images.models import ConditionalInput, GeneratedImage
from tests.backend.test_ingest_command import run_ingest
from tests.conftest import png_bytes
from tests.factories import GeneratorFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def root(tmp_path):
    GeneratorFactory(name="sd15", version="")
    folder = tmp_path / "batch"
    folder.mkdir()
    for name in ("good", "environ", "parent", "absolute"):
        (folder / f"{name}.png").write_bytes(png_bytes(16, 16, seed=len(name)))
    (tmp_path / "secret.txt").write_text("DATABASE_URL=postgres://user:password@db/prod")
    return folder


def test_manifest_paths_that_leave_its_folder_are_rejected_with_their_line_and_nothing_is_stored(root):
    manifest = root / "manifest.jsonl"
    manifest.write_text("\n".join(json.dumps(line) for line in [
        {"path": "good.png", "prompt": "fine"},
        {"path": "environ.png", "conditional_inputs": [{"role": "prompt_text", "path": "/proc/self/environ"}]},
        {"path": "parent.png", "conditional_inputs": [{"role": "prompt_text", "path": "../secret.txt"}]},
        {"path": "/etc/hostname"},
        {"path": "absolute.png", "conditional_inputs": [{"role": "prompt_text",
                                                         "path": str(root.parent / "secret.txt")}]},
    ]) + "\n")
    code, report = run_ingest(root, "--generator", "sd15", "--task", "text_to_image", "--manifest", manifest)
    assert code == 2 and report["ingested"] == 1
    rejected = {r["path"].rsplit(":", 1)[-1]: r["error"] for r in report["rejected"]}
    assert set(rejected) == {"2", "3", "4", "5"}
    assert "'/proc/self/environ' is absolute or leaves the manifest's folder" in rejected["2"]
    assert "'../secret.txt'" in rejected["3"] and "'/etc/hostname'" in rejected["4"]
    assert GeneratedImage.objects.get().prompt == "fine"
    assert not ConditionalInput.objects.exists()


def test_a_symlink_out_of_the_ingest_folder_is_not_followed(root):
    os.symlink(root.parent / "secret.txt", root / "innocent.png")
    outside = root.parent / "elsewhere"
    outside.mkdir()
    (outside / "far.png").write_bytes(png_bytes(16, 16, seed=99))
    os.symlink(outside, root / "linked-folder")
    code, report = run_ingest(root, "--generator", "sd15", "--task", "text_to_image")
    assert code == 2
    errors = {r["path"].rsplit("/", 1)[-1]: r["error"] for r in report["rejected"]}
    assert "symbolic link out of" in errors["innocent.png"] and "symbolic link out of" in errors["linked-folder"]
    assert report["ingested"] == 4  # the four real images, nothing behind a link
    assert not GeneratedImage.objects.filter(original_name__contains="far.png").exists()


def test_a_symlink_inside_the_folder_is_fine(root):
    os.symlink(root / "good.png", root / "alias.png")
    code, report = run_ingest(root, "--generator", "sd15", "--task", "text_to_image")
    assert code == 0 and report["ingested"] == 4 and report["duplicates"] == 1


