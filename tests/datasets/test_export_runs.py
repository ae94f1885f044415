import io
import tarfile
from io import StringIO

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from PIL import Image

from backend.images.models import GeneratedImage
from backend.images.services import image_delete
from datasets.export_run import export_to_path
from datasets.exporters.pal4vst import Pal4vstExporter
from datasets.models import Dataset, DatasetVersion, Export
from datasets.services import dataset_create, dataset_version_build, dataset_version_start
from tests.datasets.helpers import labelled_image
from tests.factories import GeneratorFactory

pytestmark = pytest.mark.django_db


def snapshot(dataset):
    return dataset_version_build(version=dataset_version_start(dataset=dataset))


def read_sums(folder):
    return (folder / "SHA256SUMS").read_text()


def test_pal4vst_round_trip_gives_identical_checksums(annotator_user, tmp_path, django_capture_on_commit_callbacks):
    gen = GeneratorFactory(name="rt", version="")
    for i in range(30):
        labelled_image(annotator_user, seed=i, generator=gen, rows=i % 4)
    version = snapshot(dataset_create(name="rt"))
    first = export_to_path(version=version, fmt="pal4vst", out=tmp_path / "first")
    assert (first / "manifest.json").is_file() and (first / "DATASHEET.md").is_file()
    sums = read_sums(first)
    assert sums.count("images/") == 30 and sums.count("labels/") == 30
    labels = sorted((first / "labels").rglob("*.png"))
    assert set(np.unique(np.asarray(Image.open(labels[1]))).tolist()) <= {0, 1}

    # an empty instance: nothing of the first one left
    version.delete()
    Dataset.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=True):
        for image in GeneratedImage.objects.all():
            image_delete(image=image)
    assert not GeneratedImage.objects.exists()

    out = StringIO()
    call_command("ingest", str(first), "--generator", "rt", "--task", "text_to_image", "--json", stdout=out)
    assert '"ingested": 30' in out.getvalue()
    again = export_to_path(version=snapshot(dataset_create(name="rt2")), fmt="pal4vst", out=tmp_path / "again")
    assert read_sums(again) == sums


def test_failure_mid_export_publishes_nothing(annotator_user, tmp_path, monkeypatch):
    for i in range(5):
        labelled_image(annotator_user, seed=i)
    snapshot(dataset_create(name="f"))
    original = Pal4vstExporter.write

    def write_then_fail(self, *, items, context):
        original(self, items=lambda: (item for n, item in enumerate(items()) if n < 2), context=context)
        raise OSError("disk full")

    monkeypatch.setattr(Pal4vstExporter, "write", write_then_fail)
    outdir = tmp_path / "out"
    outdir.mkdir()
    for target in (outdir / "folder", outdir / "archive.tar.gz"):
        with pytest.raises(CommandError, match="disk full"):
            call_command("export", "f@v1", "--format", "pal4vst", "--out", str(target), stdout=StringIO())
        assert not target.exists()
    assert list(outdir.iterdir()) == []  # no partial folder or archive left behind either
    assert set(Export.objects.values_list("status", flat=True)) == {"failed"}
    assert "disk full" in Export.objects.first().error


def test_export_api_builds_a_downloadable_archive(admin_client, annotator_client, annotator_user, settings, tmp_path,
                                                 django_capture_on_commit_callbacks):
    settings.FLAWMAP_EXPORT_DIR = str(tmp_path / "exports")
    labelled_image(annotator_user, seed=1)
    version = snapshot(dataset_create(name="dl"))
    url = f"/api/datasets/{version.dataset_id}/versions/1/exports"
    assert annotator_client.post(url, {"format": "pal4vst"}, format="json").status_code == 403
    assert admin_client.post(url, {"format": "nope"}, format="json").status_code == 400
    with django_capture_on_commit_callbacks(execute=True):
        r = admin_client.post(url, {"format": "pal4vst"}, format="json")
    assert r.status_code == 202
    export = admin_client.get(f"/api/exports/{r.json()['id']}/").json()
    assert export["status"] == "done" and export["download_url"]
    job = admin_client.get(f"/api/jobs/{export['job']}/").json()
    assert (job["kind"], job["queue"], job["status"], job["result"]["status"]) == ("dataset_export", "io",
                                                                                   "succeeded", "done")
    download = admin_client.get(export["download_url"])
    with tarfile.open(fileobj=io.BytesIO(b"".join(download.streaming_content)), mode="r:gz") as tar:
        names = tar.getnames()
    assert any(n.endswith("/SHA256SUMS") for n in names) and any("/labels/" in n for n in names)
    formats = [f["name"] for f in admin_client.get("/api/export-formats/").json()]
    assert "pal4vst" in formats


def test_export_cli_errors(annotator_user, tmp_path):
    labelled_image(annotator_user, seed=1)
    snapshot(dataset_create(name="e"))
    with pytest.raises(CommandError, match="no ready dataset version 'e@v9'"):
        call_command("export", "e@v9", "--format", "pal4vst", "--out", str(tmp_path / "x"))
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "file").write_text("x")
    with pytest.raises(CommandError, match="already exists and is not empty"):
        call_command("export", "e", "--format", "pal4vst", "--out", str(tmp_path / "busy"))
    assert DatasetVersion.objects.count() == 1


def test_train_sample_export_adds_a_seeded_sample_of_train_images_beside_a_folder(annotator_user, tmp_path):
    from datasets.export_run import train_sample_export

    gen = GeneratorFactory(name="old", version="")
    for i in range(20):
        labelled_image(annotator_user, seed=i, generator=gen)
    version = snapshot(dataset_create(name="old"))
    train_shas = set(version.items.filter(split="train").values_list("image_sha256", flat=True))
    excluded = sorted(train_shas)[:3]
    out = tmp_path / "fewshot"
    (out / "images" / "train").mkdir(parents=True)
    (out / "images" / "train" / "new.png").write_bytes(b"already there")

    assert train_sample_export(version=version, out=out, n=5, exclude_sha256=excluded, seed=7) == 5
    added = {p.stem for p in (out / "images" / "train").iterdir()} - {"new"}
    assert len(added) == 5 and added <= train_shas - set(excluded)  # train split only, none excluded
    assert {p.stem for p in (out / "labels" / "train").iterdir()} == added
    assert (out / "images" / "train" / "new.png").read_bytes() == b"already there"
    assert not (out / "images" / "val").exists() and not (out / "images" / "test").exists()

    again = tmp_path / "again"
    assert train_sample_export(version=version, out=again, n=5, exclude_sha256=excluded, seed=7) == 5
    assert {p.stem for p in (again / "images" / "train").iterdir()} == added  # the same seed, the same sample
    everything = tmp_path / "all"
    assert train_sample_export(version=version, out=everything, n=1000) == len(train_shas)


def test_an_export_reports_its_progress_item_by_item(annotator_user, tmp_path):
    gen = GeneratorFactory(name="progress", version="")
    for i in range(5):
        labelled_image(annotator_user, seed=i, generator=gen)
    version = snapshot(dataset_create(name="progress"))
    reports = []
    export_to_path(version=version, fmt="coco", out=tmp_path / "out",
                   on_progress=lambda done, total: reports.append((done, total)))
    assert reports == [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]
