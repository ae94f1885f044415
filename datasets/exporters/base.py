"""What every exporter gets: items one at a time (constant memory), and a place to write."""

import io
import shutil
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
from PIL import Image

from backend.core.blobs import blob_storage
from backend.images.validation import CONTENT_TYPES
from datasets.models import DatasetItem, DatasetVersion

EXTENSION = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp", "BMP": ".bmp", "TIFF": ".tif"}
assert set(EXTENSION) == set(CONTENT_TYPES)


@dataclass
class ExportItem:
    """One dataset item as exporters see it. Files are read only when asked for."""

    row: DatasetItem
    image_key: str
    mask_key: str | None

    @property
    def sha256(self) -> str:
        return self.row.image_sha256

    @property
    def split(self) -> str:
        return self.row.split

    @property
    def width(self) -> int:
        return self.row.image.width

    @property
    def height(self) -> int:
        return self.row.image.height

    @property
    def image_filename(self) -> str:
        # Named by content, so the same image has the same name in every export of every instance.
        return self.sha256 + EXTENSION[self.row.image.format]

    @property
    def regions(self) -> list[dict]:
        return self.row.regions

    @cached_property
    def mask(self) -> np.ndarray | None:
        """Boolean H×W artifact mask, or None when the chosen label has none."""
        if not self.mask_key:
            return None
        with blob_storage().open(self.mask_key, "rb") as fh:
            return np.asarray(Image.open(io.BytesIO(fh.read()))) != 0


COPY_THREADS = 4
MAX_PENDING_COPIES = 64


def _copy_blob(key: str, dest: Path) -> None:
    storage = blob_storage()
    try:
        source = storage.path(key)  # local disk: let the kernel copy (sendfile)
    except NotImplementedError:
        source = None
    if source is not None:
        shutil.copyfile(source, dest)
    else:
        with storage.open(key, "rb") as src, open(dest, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)


@dataclass
class ExportContext:
    version: DatasetVersion
    out: Path
    # Taxonomy classes in export order: (code, slug, name, definition).
    classes: list[tuple[str, str, str, str]]
    # Checksums already known for written files (blob copies): SHA256SUMS needn't read them again.
    known_sha256: dict[str, str] = field(default_factory=dict)
    # File creation dominates an export and the kernel does it without the GIL: copy in a few threads.
    _pool: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(COPY_THREADS), repr=False)
    _pending: deque = field(default_factory=deque, repr=False)
    _folders: set = field(default_factory=set, repr=False)

    def copy_blob(self, *, key: str, sha256: str, dest: Path) -> None:
        """Copy a content-addressed blob to `dest`; its sha256 is its name, so it is recorded, not recomputed.

        The copy may finish later; `finish()` waits for all of them and raises the first error.
        """
        if dest.parent not in self._folders:
            dest.parent.mkdir(parents=True, exist_ok=True)
            self._folders.add(dest.parent)
        self.known_sha256[dest.relative_to(self.out).as_posix()] = sha256
        self._pending.append(self._pool.submit(_copy_blob, key, dest))
        while len(self._pending) > MAX_PENDING_COPIES:  # bounded: memory stays flat
            self._pending.popleft().result()

    def finish(self) -> None:
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def copy_image(self, item: "ExportItem", folder: Path) -> Path:
        dest = folder / item.image_filename
        self.copy_blob(key=item.image_key, sha256=item.sha256, dest=dest)
        return dest


class Exporter:
    """Subclasses set `name` and implement `write`; register them with `@register`."""

    name: str = ""
    description: str = ""

    def write(self, *, items: Callable[[], Iterator[ExportItem]], context: ExportContext) -> None:
        raise NotImplementedError
