"""What every exporter gets: items one at a time (constant memory), and a place to write."""

import io
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
from PIL import Image

from backend.core.blobs import blob_storage
from backend.images.validation import CONTENT_TYPES
from datasets.exporters.files import ChecksumLog, FolderSink, TarSink
from datasets.models import DatasetVersion

EXTENSION = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp", "BMP": ".bmp", "TIFF": ".tif"}
assert set(EXTENSION) == set(CONTENT_TYPES)


@dataclass
class ExportItem:
    """One dataset item as exporters see it: plain values, read with one query per chunk of items (model
    instances for each item cost more than putting its files into a tar). Files are read only when asked for."""

    sha256: str  # the image's
    split: str
    width: int
    height: int
    format: str  # the image's, a key of EXTENSION
    regions: list[dict]
    annotation_id: int | None  # None: unlabelled
    label_source: str
    mask_sha256: str
    image_id: int
    image_key: str
    mask_key: str | None
    task: str  # the synthesis task's slug
    generator: str  # the generator as it prints ("name version")

    @property
    def image_filename(self) -> str:
        # Named by content, so the same image has the same name in every export of every instance.
        return self.sha256 + EXTENSION[self.format]

    @cached_property
    def mask(self) -> np.ndarray | None:
        """Boolean H×W artifact mask, or None when the chosen label has none."""
        if not self.mask_key:
            return None
        with blob_storage().open(self.mask_key, "rb") as fh:
            return np.asarray(Image.open(io.BytesIO(fh.read()))) != 0


@dataclass
class ExportContext:
    version: DatasetVersion
    out: Path
    # Taxonomy classes in export order: (code, slug, name, definition).
    classes: list[tuple[str, str, str, str]]
    # Where blob files go: linked or copied into `out` (FolderSink), or streamed into an archive (TarSink; then
    # `out` is a scratch folder for the files the exporter writes itself).
    sink: FolderSink | TarSink = field(default_factory=FolderSink)
    # The sha256 of every blob file placed: SHA256SUMS needn't read them again.
    checksums: ChecksumLog = field(default_factory=ChecksumLog)
    _folders: set = field(default_factory=set, repr=False)

    def copy_blob(self, *, key: str, sha256: str, dest: str | os.PathLike) -> None:
        """Put a content-addressed blob at `dest` (linked, copied or streamed: see `sink`); its sha256 is its
        name, so it is recorded, not recomputed. A copy may finish later; `finish()` waits for all of them.
        Per-file paths are best strings: pathlib interns every name it parses, and a new name per file fills the
        interpreter's table of interned strings, reallocated whole (7 MiB in a worker) every few 10 000 files."""
        root, path = os.fspath(self.out) + os.sep, os.fspath(dest)
        if not path.startswith(root):
            raise ValueError(f"{dest} is not inside the export folder {self.out}")
        rel = path[len(root):]  # what relative_to() says, at a tenth of the cost (once per file)
        self.checksums.add(rel, sha256)
        if isinstance(self.sink, TarSink):
            self.sink.place(key=key, rel=rel)
            return
        folder = os.path.dirname(path)
        if folder not in self._folders:
            os.makedirs(folder, exist_ok=True)
            self._folders.add(folder)
        self.sink.place(key=key, dest=path)

    def finish(self) -> None:
        if isinstance(self.sink, FolderSink):
            self.sink.finish()

    def copy_image(self, item: ExportItem, folder: str | os.PathLike) -> str:
        dest = os.path.join(folder, item.image_filename)
        self.copy_blob(key=item.image_key, sha256=item.sha256, dest=dest)
        return dest


class Exporter:
    """Subclasses set `name` and implement `write`; register them with `@register`."""

    name: str = ""
    description: str = ""

    def write(self, *, items: Callable[[], Iterator[ExportItem]], context: ExportContext) -> None:
        raise NotImplementedError
