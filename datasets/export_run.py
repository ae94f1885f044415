"""Run an exporter into a temporary folder, add manifest, checksums and datasheet, then publish atomically.

Nothing is published (and the Export row never says done) unless the whole export finished: the folder
is renamed into place, or the archive written under a temporary name and renamed, at the very end.
"""

import glob
import hashlib
import json
import os
import random
import shutil
import tarfile
import tempfile
import uuid
from collections.abc import Callable, Collection, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from backend.annotations.models import MaskLabel
from backend.core.cli import ProgressCallback
from backend.core.exceptions import ApplicationError
from backend.jobs.lease import JobLeaseLost
from backend.taxonomy.selectors import artifact_class_list
from datasets.datasheet import datasheet_markdown
from datasets.export_paths import export_path_inside
from datasets.exporters import get_exporter
from datasets.exporters.base import ExportContext, ExportItem
from datasets.models import DatasetItem, DatasetVersion, Export

# Files describing this particular export (ids, times); SHA256SUMS covers the data files only, so two
# exports of the same data have identical checksum files.
META_FILES = ("manifest.json", "DATASHEET.md", "SHA256SUMS")
CHUNK = 500


def export_items(version: DatasetVersion, *, only: Collection[str] | None = None) -> Iterator[ExportItem]:
    """Items in a stable order (by image content hash), fetched a chunk at a time; `only` keeps those images."""
    last = ""
    base = (DatasetItem.objects.filter(version=version)
            .select_related("image__blob", "image__task", "image__generator").order_by("image_sha256"))
    if only is not None:
        base = base.filter(image_sha256__in=only)
    while True:
        rows = list(base.filter(image_sha256__gt=last)[:CHUNK])
        if not rows:
            return
        last = rows[-1].image_sha256
        masks = dict(MaskLabel.objects.filter(blob_id__in=[r.mask_sha256 for r in rows if r.mask_sha256])
                     .values_list("blob_id", "blob__key"))
        for row in rows:
            yield ExportItem(row=row, image_key=row.image.blob.key, mask_key=masks.get(row.mask_sha256))


def train_sample_export(
    *, version: DatasetVersion, out: Path, n: int, exclude_sha256: Collection[str] = (), seed: int = 0
) -> int:
    """Add `n` of `version`'s labelled train images (a seeded sample, none of `exclude_sha256`) to the train
    split of the PAL4VST folder `out`, beside what is there; returns how many. These are rehearsal images for
    fine-tuning on another version: a few new labels then teach the new case without unlearning the rest."""
    candidates = list(DatasetItem.objects.filter(version=version, split="train").exclude(annotation=None)
                      .exclude(image_sha256__in=exclude_sha256).order_by("image_sha256")
                      .values_list("image_sha256", flat=True))
    picked = random.Random(seed).sample(candidates, min(n, len(candidates)))
    context = ExportContext(version=version, out=Path(out), classes=[])
    try:
        get_exporter("pal4vst").write(items=lambda: export_items(version, only=picked), context=context)
    finally:
        context.finish()
    return len(picked)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_checksums(folder: Path, known: dict[str, str] | None = None) -> None:
    """SHA256SUMS for every data file, sorted by path; sums in `known` are trusted, the rest computed."""
    known = known or {}
    with open(folder / "SHA256SUMS", "w") as out:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            rel = path.relative_to(folder).as_posix()
            if rel not in META_FILES:
                out.write(f"{known.get(rel) or _sha256_file(path)}  {rel}\n")


def _remove_leftovers(out: Path) -> None:
    """A worker killed mid-export (kill -9, out of memory) leaves its scratch folder or temporary archive
    behind. Their names belong to this output alone; an earlier attempt of the same export that still runs has
    lost its job's lease and will publish nothing, so its scratch files may go too."""
    stem = glob.escape(out.name)
    for leftover in out.parent.glob(f".{stem}.partial-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    for leftover in out.parent.glob(f".{stem}.*.tmp"):
        leftover.unlink(missing_ok=True)


def export_to_path(*, version: DatasetVersion, fmt: str, out: Path, on_progress: ProgressCallback | None = None,
                   publishing: Callable[[], AbstractContextManager] = nullcontext) -> Path:
    """Export `version` in format `fmt` to folder `out` (or an archive when it ends in .tar.gz / .tar);
    `on_progress(items_written, items)` follows the items. The files are moved into place inside
    `publishing()` (a job's lease: backend.jobs.lease), so what it refuses is never published."""
    if version.status != DatasetVersion.Status.READY:
        raise ApplicationError(f"{version} is not complete")
    try:
        exporter = get_exporter(fmt)
    except KeyError as exc:
        raise ApplicationError(exc.args[0]) from exc
    out = Path(out).resolve()
    archive = out.name.endswith((".tar.gz", ".tgz", ".tar"))
    if out.exists() and (archive or any(out.iterdir())):
        raise ApplicationError(f"{out} already exists and is not empty")
    out.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(out)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        classes = [(c.code, c.slug, c.name, c.definition) for c in artifact_class_list()]
        context = ExportContext(version=version, out=work, classes=classes)
        try:
            exporter.write(items=lambda: _reporting(export_items(version), version.counts.get("items"), on_progress),
                           context=context)
        finally:
            context.finish()  # every copy done (or its error raised) before anything is published
        manifest = {
            "dataset": version.dataset.name, "version": version.number, "manifest_hash": version.manifest_hash,
            "format": fmt, "exported_at": timezone.now().isoformat(), "counts": version.counts,
            "checksums": "SHA256SUMS (data files; this manifest and the datasheet are not listed)",
        }
        (work / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        (work / "DATASHEET.md").write_text(datasheet_markdown(version))
        write_checksums(work, context.known_sha256)
        if archive:
            tmp_archive = out.parent / f".{out.name}.{uuid.uuid4().hex}.tmp"
            mode = "w" if out.name.endswith(".tar") else "w:gz"
            try:
                with tarfile.open(tmp_archive, mode) as tar:
                    tar.add(work, arcname=out.name.split(".tar")[0].split(".tgz")[0])
                with publishing():
                    os.replace(tmp_archive, out)
            finally:
                tmp_archive.unlink(missing_ok=True)
        else:
            with publishing():
                if out.exists():
                    out.rmdir()  # empty target folder
                os.replace(work, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def _reporting(items: Iterator[ExportItem], total: int | None,
               on_progress: ProgressCallback | None) -> Iterator[ExportItem]:
    for done, item in enumerate(items, start=1):
        yield item
        if on_progress is not None:
            on_progress(done, total)


def export_run(*, export: Export, out: Path, on_progress: ProgressCallback | None = None,
               confined: bool = False, publishing: Callable[[], AbstractContextManager] = nullcontext) -> Export:
    """The Export row says done in the transaction that moves the files into place; failures are recorded with
    the reason. `confined` (API exports, which the API serves): `out` must resolve inside FLAWMAP_EXPORT_DIR.
    With a job's `publishing` (JobContext.publishing), an attempt that lost its job records neither: the
    attempt that holds the job finishes the export."""
    done_path: list[Path] = []

    @contextmanager
    def publish_done() -> Iterator[None]:
        with publishing(), transaction.atomic():
            Export.objects.filter(pk=export.pk).update(status=Export.Status.DONE, path=str(done_path[0]),
                                                       finished_at=timezone.now())
            yield  # the files are moved here; if that fails, the row is not done either

    try:
        if confined:
            out = export_path_inside(out)
        done_path.append(Path(out).resolve())
        export_to_path(version=export.version, fmt=export.format, out=out, on_progress=on_progress,
                       publishing=publish_done)
    except JobLeaseLost:
        raise
    except Exception as exc:
        message = exc.message if isinstance(exc, ApplicationError) else f"{exc.__class__.__name__}: {exc}"
        try:
            with publishing():
                Export.objects.filter(pk=export.pk).update(status=Export.Status.FAILED, error=message,
                                                           finished_at=timezone.now())
        except JobLeaseLost:
            pass  # a reaped attempt's failure (its retry cleared its scratch folder, say) is not the export's
        raise
    export.refresh_from_db()
    return export
