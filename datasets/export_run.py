"""Run an exporter into a temporary folder, add manifest, checksums and datasheet, then publish atomically.

Nothing is published (and the Export row never says done) unless the whole export finished: the folder
is renamed into place, or the archive written under a temporary name and renamed (or, for an API export,
stored in blob storage), at the very end.
"""

import glob
import json
import os
import random
import shutil
import tempfile
import uuid
from collections.abc import Callable, Collection, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path

from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from backend.core.blobs import StagedBlob, atomic_with_blobs, blob_discard_staged, blob_stage_file, blob_store_staged
from backend.core.cli import ProgressCallback
from backend.core.exceptions import ApplicationError
from backend.core.models import Blob
from backend.images.models import Generator, SynthesisTask
from backend.jobs.lease import JobLeaseLost
from backend.taxonomy.selectors import artifact_class_list
from datasets.datasheet import datasheet_markdown
from datasets.export_paths import export_path_inside
from datasets.exporters import get_exporter
from datasets.exporters.base import ExportContext, ExportItem
from datasets.exporters.files import (
    ChecksumLog,
    FolderSink,
    LinkMode,
    TarSink,
    archive_open,
    archive_root,
    write_checksums,
)
from datasets.models import DatasetItem, DatasetVersion, Export

# Files describing this particular export (ids, times); SHA256SUMS covers the data files only, so two
# exports of the same data have identical checksum files.
META_FILES = ("manifest.json", "DATASHEET.md", "SHA256SUMS")
CHUNK = 500


# What an ExportItem holds, in its field order, as one row per item: the image's blob key by a join, the mask's
# (no foreign key leads to it) by a subquery; generators and tasks are few, named once each.
ITEM_COLUMNS = ("image_sha256", "split", "image__width", "image__height", "image__format", "regions", "annotation_id",
                "label_source", "mask_sha256", "image_id", "image__blob__key", "mask_key", "image__task_id",
                "image__generator_id")


def export_items(version: DatasetVersion, *, only: Collection[str] | None = None) -> Iterator[ExportItem]:
    """Items in a stable order (by image content hash), fetched a chunk at a time; `only` keeps those images.
    Plain values, no model instances: per item they cost more than writing its files into a tar."""
    last = ""
    base = (DatasetItem.objects.filter(version=version).order_by("image_sha256")
            .annotate(mask_key=Subquery(Blob.objects.filter(sha256=OuterRef("mask_sha256")).values("key")))
            .values_list(*ITEM_COLUMNS))
    if only is not None:
        base = base.filter(image_sha256__in=only)
    tasks: dict[int, str] = {}
    generators: dict[int, str] = {}
    while True:
        rows = list(base.filter(image_sha256__gt=last)[:CHUNK])
        if not rows:
            return
        last = rows[-1][0]
        for *values, task_id, generator_id in rows:
            if task_id not in tasks:
                tasks[task_id] = SynthesisTask.objects.get(pk=task_id).slug
            if generator_id not in generators:
                generators[generator_id] = str(Generator.objects.get(pk=generator_id))
            yield ExportItem(*values, tasks[task_id], generators[generator_id])


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
    Path(out).mkdir(parents=True, exist_ok=True)  # a folder of its own, or beside an earlier export
    context = ExportContext(version=version, out=Path(out), classes=[])
    try:
        get_exporter("pal4vst").write(items=lambda: export_items(version, only=picked), context=context)
    finally:
        context.finish()
        context.checksums.close()
    return len(picked)


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
                   publishing: Callable[[], AbstractContextManager] = nullcontext,
                   keep: Callable[[Path], None] | None = None, link: LinkMode | str = LinkMode.AUTO) -> Path:
    """Export `version` in format `fmt` to folder `out` (or an archive when it ends in .tar.gz / .tar);
    `on_progress(items_written, items)` follows the items. The files are moved into place inside
    `publishing()` (a job's lease: backend.jobs.lease), so what it refuses is never published.

    With `keep` (an archive only), the finished archive is handed to `keep(path)` (which stores it elsewhere:
    blob storage) before `publishing()`, and no local copy stays: `out` only names the scratch file.

    `link` (a folder only): hard-link blob files into it (`auto`: where possible, else copy; `always`: or fail;
    `never`: copy). An archive streams the blobs into the tar.
    See datasets/exporters/files.py for what linked files mean for the export's consumer (read-only)."""
    if version.status != DatasetVersion.Status.READY:
        raise ApplicationError(f"{version} is not complete")
    try:
        get_exporter(fmt)  # an unknown format fails before anything is written
    except KeyError as exc:
        raise ApplicationError(exc.args[0]) from exc
    out = Path(out).resolve()
    archive = out.name.endswith((".tar.gz", ".tgz", ".tar"))
    try:
        link = LinkMode(link)
    except ValueError as exc:
        raise ApplicationError(f"unknown link mode {link!r}; known: {', '.join(LinkMode)}") from exc
    if archive and link == LinkMode.ALWAYS:
        raise ApplicationError(f"{out.name}: an archive cannot hold hard links (it streams the blob files); "
                               "use --link auto or never, or export to a folder")
    if keep is not None and not archive:
        raise ApplicationError(f"{out.name}: only an archive (.tar.gz, .tgz, .tar) can be kept in blob storage")
    if out.exists() and (archive or any(out.iterdir())):
        raise ApplicationError(f"{out} already exists and is not empty")
    out.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(out)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    checksums = ChecksumLog()
    try:
        def write(sink: FolderSink | TarSink) -> None:
            _write_export(version=version, fmt=fmt, work=work, sink=sink, checksums=checksums,
                          on_progress=on_progress)

        if archive:
            tmp_archive = out.parent / f".{out.name}.{uuid.uuid4().hex}.tmp"
            try:
                # Streamed: blob files go from storage straight into the tar, no folder first.
                with archive_open(tmp_archive, name=out.name) as tar:
                    sink = TarSink(tar=tar, root=archive_root(out.name), plain=out.name.endswith(".tar"))
                    write(sink)
                    sink.add_folder(work)  # the files the exporter wrote itself, the manifest, the checksums
                if keep is not None:
                    keep(tmp_archive)
                    with publishing():
                        pass  # the archive went to `keep`; the scratch copy goes in `finally`
                else:
                    with publishing():
                        os.replace(tmp_archive, out)
            finally:
                tmp_archive.unlink(missing_ok=True)
        else:
            write(FolderSink(link=link))
            with publishing():
                if out.exists():
                    out.rmdir()  # empty target folder
                os.replace(work, out)
    finally:
        checksums.close()
        shutil.rmtree(work, ignore_errors=True)
    return out


def _write_export(*, version: DatasetVersion, fmt: str, work: Path, sink: FolderSink | TarSink,
                  checksums: ChecksumLog, on_progress: ProgressCallback | None) -> None:
    """The exporter's files (blob files through `sink`), then manifest, datasheet and SHA256SUMS, into `work`."""
    classes = [(c.code, c.slug, c.name, c.definition) for c in artifact_class_list()]
    context = ExportContext(version=version, out=work, classes=classes, sink=sink, checksums=checksums)
    try:
        get_exporter(fmt).write(
            items=lambda: _reporting(export_items(version), version.counts.get("items"), on_progress), context=context)
    finally:
        context.finish()  # every copy done (or its error raised) before anything is published
    manifest = {
        "dataset": version.dataset.name, "version": version.number, "manifest_hash": version.manifest_hash,
        "format": fmt, "exported_at": timezone.now().isoformat(), "counts": version.counts,
        "checksums": "SHA256SUMS (data files; this manifest and the datasheet are not listed)",
    }
    (work / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    (work / "DATASHEET.md").write_text(datasheet_markdown(version))
    write_checksums(work, checksums, exclude=META_FILES)


def _reporting(items: Iterator[ExportItem], total: int | None,
               on_progress: ProgressCallback | None) -> Iterator[ExportItem]:
    for done, item in enumerate(items, start=1):
        yield item
        if on_progress is not None:
            on_progress(done, total)


def _archive_type(name: str) -> str:
    return "application/x-tar" if name.endswith(".tar") else "application/gzip"


def export_run(*, export: Export, out: Path, on_progress: ProgressCallback | None = None,
               confined: bool = False, publishing: Callable[[], AbstractContextManager] = nullcontext,
               link: LinkMode | str = LinkMode.AUTO) -> Export:
    """The Export row says done in the transaction that publishes the archive; failures are recorded with the
    reason. `confined` (API exports, which the API serves): `out` must resolve inside FLAWMAP_EXPORT_DIR, and is
    only scratch there: the archive goes to blob storage (`Export.archive`, uploaded before the publishing
    transaction opens) and the local file is removed, so any web host can serve it and no worker must keep it.
    A CLI export stays where its operator wrote it. With a job's `publishing` (JobContext.publishing), an
    attempt that lost its job records neither: the attempt that holds the job finishes the export."""
    done_path: list[Path] = []
    staged: list[StagedBlob] = []

    def keep_in_blobs(archive: Path) -> None:
        staged.append(blob_stage_file(path=archive, content_type=_archive_type(done_path[0].name)))

    @contextmanager
    def publish_done() -> Iterator[None]:
        if not staged:
            with publishing(), transaction.atomic():
                Export.objects.filter(pk=export.pk).update(status=Export.Status.DONE, path=str(done_path[0]),
                                                           finished_at=timezone.now())
                yield  # the files are moved here; if that fails, the row is not done either
            return
        try:
            with publishing(), atomic_with_blobs():
                blob = blob_store_staged(staged[0])
                Export.objects.filter(pk=export.pk).update(status=Export.Status.DONE, path=done_path[0].name,
                                                           archive=blob, finished_at=timezone.now())
                yield
        except BaseException:
            blob_discard_staged(staged[0])  # refused (a lost lease) or failed: no file without its row stays
            raise

    try:
        if confined:
            out = export_path_inside(out)
        done_path.append(Path(out).resolve())
        export_to_path(version=export.version, fmt=export.format, out=out, on_progress=on_progress,
                       publishing=publish_done, keep=keep_in_blobs if confined else None, link=link)
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
