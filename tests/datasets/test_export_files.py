"""How files reach an export (datasets/exporters/files.py): hard links or copies into a folder, a tar streamed
from the blobs, and SHA256SUMS from the stored hashes."""

import os
import stat
import subprocess
import tarfile
import tempfile
from io import StringIO
from pathlib import Path, PurePosixPath

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from backend.core.blobs import blob_storage
from backend.core.exceptions import ApplicationError
from datasets.export_run import export_to_path
from datasets.exporters import files
from datasets.services import dataset_create, dataset_version_build, dataset_version_start
from tests.datasets.helpers import labelled_image

pytestmark = pytest.mark.django_db
META = {"manifest.json", "DATASHEET.md"}  # name this export (its time): the only files that may differ


@pytest.fixture
def version(annotator_user):
    for i in range(8):
        labelled_image(annotator_user, seed=i, rows=i % 3)  # rows 0: labelled clean, no mask blob
    return dataset_version_build(version=dataset_version_start(dataset=dataset_create(name="files")))


def contents(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def data(found: dict[str, bytes]) -> dict[str, bytes]:
    return {rel: body for rel, body in found.items() if rel not in META}


def blob_inodes() -> dict[int, str]:
    return {os.stat(p).st_ino: str(p) for p in Path(blob_storage().location).rglob("*") if p.is_file()}


@pytest.mark.parametrize("fmt", ["pal4vst", "coco", "synartifact"])
def test_linked_and_copied_exports_are_byte_identical(version, tmp_path, fmt):
    linked = export_to_path(version=version, fmt=fmt, out=tmp_path / "linked", link="always")
    copied = export_to_path(version=version, fmt=fmt, out=tmp_path / "copied", link="never")
    assert data(contents(linked)) == data(contents(copied))
    assert "SHA256SUMS" in contents(linked)


def test_a_linked_export_holds_hard_links_to_read_only_blobs_and_a_copied_one_does_not(version, tmp_path):
    linked = export_to_path(version=version, fmt="pal4vst", out=tmp_path / "linked", link="always")
    copied = export_to_path(version=version, fmt="pal4vst", out=tmp_path / "copied", link="never")
    inodes = blob_inodes()
    images = sorted((linked / "images").rglob("*.png"))
    assert len(images) == 8
    for image in images:
        st = os.stat(image)
        assert st.st_ino in inodes and st.st_nlink >= 2  # the blob's own file, not a copy
        # Read-only, and so is the blob (one inode): a consumer that writes into an export file in place gets
        # EACCES (unless root), so it replaces the file instead and the blob stays as its sha256 says.
        assert stat.S_IMODE(st.st_mode) & 0o222 == 0
        assert stat.S_IMODE(os.stat(inodes[st.st_ino]).st_mode) & 0o222 == 0
    for image in (copied / "images").rglob("*.png"):
        st = os.stat(image)
        assert st.st_ino not in inodes and st.st_nlink == 1

    # Replacing a linked file (the documented way to change one) leaves the blob as it was.
    victim = images[0]
    blob_path = inodes[os.stat(victim).st_ino]
    before = Path(blob_path).read_bytes()
    replacement = victim.with_suffix(".new")
    replacement.write_bytes(b"edited")
    os.replace(replacement, victim)
    assert Path(blob_path).read_bytes() == before and victim.read_bytes() == b"edited"


@pytest.mark.parametrize("archive_name", ["c.tar.gz", "c.tar"])  # gzip'd through tarfile; plain by sendfile
def test_identical_data_gives_identical_checksums_however_written(version, tmp_path, archive_name):
    folder = export_to_path(version=version, fmt="pal4vst", out=tmp_path / "a", link="auto")
    again = export_to_path(version=version, fmt="pal4vst", out=tmp_path / "b", link="never")
    archive = export_to_path(version=version, fmt="pal4vst", out=tmp_path / archive_name)
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        assert all(m.isfile() or m.isdir() for m in members)  # no links in an archive
        unpacked = {m.name.removeprefix("c/"): tar.extractfile(m).read() for m in members if m.isfile()}
    assert (folder / "SHA256SUMS").read_text() == (again / "SHA256SUMS").read_text()
    assert data(unpacked) == data(contents(folder))  # the same files, byte for byte, straight from the blobs
    assert subprocess.run(["tar", "-tf", str(archive)], capture_output=True).returncode == 0  # GNU tar reads it


def test_checksums_come_from_the_stored_hashes_not_from_reading_blob_files(version, tmp_path, monkeypatch):
    hashed = []
    real = files.sha256_file
    monkeypatch.setattr(files, "sha256_file", lambda path: hashed.append(Path(path)) or real(path))
    out = export_to_path(version=version, fmt="pal4vst", out=tmp_path / "out", link="never")
    hashed_rel = {Path(*p.relative_to(out.parent).parts[1:]).as_posix() for p in hashed}  # in the scratch folder
    image_rels = {p.relative_to(out).as_posix() for p in (out / "images").rglob("*")}
    assert hashed_rel and not hashed_rel & image_rels
    # Only what the exporter wrote itself: items.jsonl and the all-clean labels of items without a mask blob.
    unmasked = version.items.filter(mask_sha256="").count()
    assert hashed_rel == {"items.jsonl"} | {r for r in hashed_rel if r.startswith("labels/")}
    assert len(hashed_rel) == 1 + unmasked


def test_link_always_fails_clearly_where_links_cannot_go_and_publishes_nothing(version, tmp_path):
    other_fs = Path("/dev/shm")
    if not other_fs.is_dir() or os.stat(other_fs).st_dev == os.stat(blob_storage().location).st_dev:
        pytest.skip("needs a second filesystem (/dev/shm) to link across")
    with tempfile.TemporaryDirectory(dir=other_fs) as scratch:
        target = Path(scratch) / "out"
        with pytest.raises(CommandError, match="--link always: cannot hard-link"):
            call_command("export", "files", "--format", "pal4vst", "--out", str(target), "--link", "always",
                         stdout=StringIO())
        assert list(Path(scratch).iterdir()) == []  # no partial folder either
        call_command("export", "files", "--format", "pal4vst", "--out", str(target), stdout=StringIO())  # auto
        copied = next((target / "images").rglob("*.png"))
        assert os.stat(copied).st_nlink == 1
        reference = export_to_path(version=version, fmt="pal4vst", out=tmp_path / "ref", link="always")
        assert data(contents(target)) == data(contents(reference))


def test_link_modes_are_checked(version, tmp_path):
    with pytest.raises(ApplicationError, match="cannot hold hard links"):
        export_to_path(version=version, fmt="pal4vst", out=tmp_path / "x.tar", link="always")
    with pytest.raises(ApplicationError, match="unknown link mode"):
        export_to_path(version=version, fmt="pal4vst", out=tmp_path / "y", link="sometimes")
    with pytest.raises(CommandError, match="invalid choice"):
        call_command("export", "files", "--format", "pal4vst", "--out", str(tmp_path / "z"), "--link", "maybe")


def test_checksums_and_walks_sort_in_path_order_in_bounded_runs(monkeypatch, tmp_path):
    monkeypatch.setattr(files, "SORT_RUN", 3)  # many runs, merged
    paths = ["b/x", "a.txt", "a/b", "a/a/z", "images/t/2.png", "images/t/10.png", "a-b", "z", "images.jsonl"]
    in_path_order = [p.as_posix() for p in sorted(PurePosixPath(p) for p in paths)]
    log = files.ChecksumLog()
    for n, rel in enumerate(paths):
        log.add(rel, f"{n:064x}")
    entries = list(log.sorted_entries())
    log.close()
    assert [rel for rel, _ in entries] == in_path_order
    assert dict(entries) == {rel: f"{n:064x}" for n, rel in enumerate(paths)}

    for rel in paths:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(rel)
    assert list(files.walk_sorted(tmp_path)) == in_path_order


@pytest.mark.parametrize("rel", ["images/train/a.png", "x" * (100 - len("root/")), "x" * 96, "splït/é.png"])
@pytest.mark.parametrize("size", [0, 1, 511, 47_000, 8**11 - 1, 8**11])
def test_tar_headers_built_from_a_blank_are_the_ones_tarfile_writes(tmp_path, rel, size):
    with tarfile.open(tmp_path / "a.tar", "w", format=files.TAR_FORMAT) as tar:
        sink = files.TarSink(tar=tar, root="root", mtime=1_700_000_000, plain=True)
        assert sink._header(rel, size) == sink._member(rel, size=size).tobuf(tar.format, tar.encoding, tar.errors)
