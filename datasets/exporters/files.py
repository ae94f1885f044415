"""How data files reach an export: blob files hard-linked or copied into a folder, or streamed into a tar; and
SHA256SUMS made from the blobs' stored hashes, in path order, with memory flat in the number of files.

Linking (`LinkMode`): a blob is named by its sha256 and never rewritten, so a hard link gives the export the
same bytes without copying them. A hard link shares the blob's inode: writing *into* a linked export file would
change the blob. So a blob is made read-only (mode 0444, which the link shares) before it is linked, and the
export's files are documented as read-only: a consumer that wants to edit one replaces it (write a new file,
rename it over) — a non-root process gets EACCES when it opens one for writing, but root is not stopped by
file modes, so a root consumer that may write in place should export with `--link never`.
"""

import contextlib
import errno
import hashlib
import heapq
import io
import os
import shutil
import stat
import tarfile
import tempfile
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from enum import StrEnum
from pathlib import Path

from django.core.files.storage import FileSystemStorage

from backend.core.blobs import blob_storage
from backend.core.exceptions import ApplicationError


class LinkMode(StrEnum):
    AUTO = "auto"  # hard-link where the blob is a local file on the same filesystem; copy otherwise
    ALWAYS = "always"  # hard-link or fail (nothing is published)
    NEVER = "never"  # always copy


class LinkImpossible(ApplicationError):
    """`--link always` but a blob cannot be hard-linked into the export folder."""


# Errors that mean "no hard link here" (another filesystem, a filesystem without links, too many links).
NO_LINK_ERRNOS = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP}
COPY_THREADS = 4
COPY_BUFFER = 1 << 20
# GNU headers: long names as GNU tar writes them, without building a PAX record for every member (pure
# Python, a third of the time of streaming a small file).
TAR_FORMAT = tarfile.GNU_FORMAT
# Fields of a tar header block (POSIX ustar, as GNU tar writes it) that TarSink._header fills in.
NAME, SIZE, CHKSUM = slice(0, 100), slice(124, 136), slice(148, 156)
MAX_OCTAL_SIZE = 8 ** 11  # 11 octal digits; a larger size is written base-256 (tarfile does that)
MAX_PENDING_COPIES = 64
READ_ONLY_BITS = ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)


def blob_local_path(key: str) -> str | None:
    """The blob's file on local disk, or None when the storage has no local files (S3)."""
    storage = blob_storage()
    if isinstance(storage, FileSystemStorage) and not key.startswith("/") and ".." not in key.split("/"):
        return os.path.join(storage.location, key)  # what storage.path() says, without its per-call checks
    try:
        return storage.path(key)
    except NotImplementedError:
        return None


def _copy_blob(key: str, source: str | None, dest: str) -> None:
    if source is not None:
        shutil.copyfile(source, dest)  # the kernel copies (sendfile / copy_file_range)
    else:
        with blob_storage().open(key, "rb") as src, open(dest, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)


def _make_read_only(path: str) -> None:
    mode = os.stat(path).st_mode
    if mode & ~READ_ONLY_BITS:
        os.chmod(path, stat.S_IMODE(mode) & READ_ONLY_BITS)


class FolderSink:
    """Puts blob files into an export folder: hard links (`link`), else copies in a few threads (file creation
    dominates and the kernel does it without the GIL). `finish()` waits for every copy and raises the first
    error, so nothing is published before all files are in place."""

    def __init__(self, *, link: LinkMode = LinkMode.AUTO):
        self.link = LinkMode(link)
        self._linking = self.link != LinkMode.NEVER
        self._pool: ThreadPoolExecutor | None = None
        self._pending: deque = deque()
        if self.link == LinkMode.ALWAYS and blob_local_path("blobs/probe") is None:
            raise LinkImpossible("--link always: the blob storage keeps no local files (S3), so nothing can be "
                                 "hard-linked; use --link auto or never")

    def place(self, *, key: str, dest: str) -> None:
        source = blob_local_path(key)
        if self._linking and source is not None and self._try_link(source, dest):
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(COPY_THREADS, thread_name_prefix="export-copy")
        self._pending.append(self._pool.submit(_copy_blob, key, source, dest))
        while len(self._pending) > MAX_PENDING_COPIES:  # bounded: memory stays flat
            self._pending.popleft().result()

    def _try_link(self, source: str, dest: str) -> bool:
        try:
            _make_read_only(source)
            try:
                os.link(source, dest)
            except FileExistsError:  # an earlier file of the same name (a rehearsal sample added to a folder)
                os.unlink(dest)
                os.link(source, dest)
            return True
        except OSError as exc:
            if exc.errno not in NO_LINK_ERRNOS:
                raise
            if self.link == LinkMode.ALWAYS:
                raise LinkImpossible(f"--link always: cannot hard-link blob {source} to {dest}: {exc.strerror} "
                                     "(another filesystem?); use --link auto or never") from exc
            if exc.errno != errno.EMLINK:  # too many links to this one blob (a mask many images share): copy it
                self._linking = False  # no links to this folder at all: the rest of this export copies
            return False

    def finish(self) -> None:
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)


def archive_root(name: str) -> str:
    """The folder an archive unpacks to: its name without .tar / .tar.gz / .tgz."""
    return name.split(".tar")[0].split(".tgz")[0]


def archive_open(path: Path, *, name: str) -> tarfile.TarFile:
    """A new archive at `path`: a plain tar when `name` ends in .tar, else gzip'd, at level 1: the images and
    masks are compressed already, and higher levels cost several times the CPU for a few bytes."""
    if name.endswith(".tar"):
        return tarfile.open(path, "w", format=TAR_FORMAT, copybufsize=COPY_BUFFER)
    return tarfile.open(path, "w:gz", compresslevel=1, format=TAR_FORMAT, copybufsize=COPY_BUFFER)


class TarSink:
    """Streams blob files straight into an open tar (no folder first): members `root/<path>`, read-only
    (0444), with one modification time. Memory holds one copy buffer."""

    def __init__(self, *, tar: tarfile.TarFile, root: str, mtime: float | None = None, plain: bool = False):
        self.tar = tar
        # A plain (uncompressed) tar on disk: file bodies go from the blob to the archive by sendfile(), in the
        # kernel, instead of through Python buffers.
        self.plain = plain and hasattr(os, "sendfile")
        self.root = root
        self.mtime = int(time.time() if mtime is None else mtime)
        self._dirs: set[str] = set()  # folders of the layout: a handful, not one per file
        # A file member's header as tarfile writes it in GNU format, without name, size and checksum: see _header.
        self._blank: bytearray | None = None
        if tar.format == tarfile.GNU_FORMAT:
            blank = self._member("")
            blank.name = ""
            self._blank = bytearray(blank.tobuf(tar.format, tar.encoding, tar.errors))
            self._blank[CHKSUM] = b" " * (CHKSUM.stop - CHKSUM.start)

    def _member(self, rel: str, *, size: int = 0, kind: bytes = tarfile.REGTYPE) -> tarfile.TarInfo:
        info = tarfile.TarInfo(f"{self.root}/{rel}" if rel else self.root)
        info.size, info.type, info.mtime = size, kind, self.mtime
        info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o444
        return info

    def _header(self, rel: str, size: int) -> bytes:
        """A file member's header, the bytes `_member(rel, size=size).tobuf()` gives, at a fifth of its cost (it
        was most of the Python time per file): the blank header with the name, the size and their checksum put
        in. A name longer than its field, a size beyond its octal digits, or another format: through tarfile."""
        name = f"{self.root}/{rel}".encode(self.tar.encoding, self.tar.errors)
        if self._blank is None or len(name) > NAME.stop or size >= MAX_OCTAL_SIZE:
            return self._member(rel, size=size).tobuf(self.tar.format, self.tar.encoding, self.tar.errors)
        header = bytearray(self._blank)
        header[:len(name)] = name
        header[SIZE] = b"%011o\0" % size
        header[CHKSUM.start:CHKSUM.stop - 1] = b"%06o\0" % sum(header)  # the last byte stays a space, as tarfile's
        return bytes(header)

    def _folders(self, rel: str) -> None:
        if rel.rpartition("/")[0] in self._dirs:
            return  # its folder is in the tar, and so is every folder above it
        parts = rel.split("/")[:-1]
        for depth in range(len(parts) + 1):
            folder = "/".join(parts[:depth])
            if folder not in self._dirs:
                self._dirs.add(folder)
                self.tar.addfile(self._member(folder, kind=tarfile.DIRTYPE))

    def add_stream(self, rel: str, fh, size: int) -> None:
        self._folders(rel)
        if self.plain and isinstance(fh, io.BufferedReader):
            self._add_by_sendfile(self._header(rel, size), size, fh)
            return
        self.tar.addfile(self._member(rel, size=size), fh)
        self.tar.members.clear()  # TarFile keeps every member written (for getmembers()): memory would grow

    def _add_by_sendfile(self, header: bytes, size: int, fh) -> None:
        """What TarFile.addfile writes (header, body, padding to a block; `offset` kept), the body copied by
        the kernel."""
        tar, out = self.tar, self.tar.fileobj
        out.write(header)
        out.flush()
        sent = 0
        while sent < size:
            count = os.sendfile(out.fileno(), fh.fileno(), sent, size - sent)
            if count == 0:
                raise OSError(f"{fh.name} is shorter than the {size} bytes its tar header says")
            sent += count
        blocks, remainder = divmod(size, tarfile.BLOCKSIZE)
        if remainder:
            out.write(tarfile.NUL * (tarfile.BLOCKSIZE - remainder))
            blocks += 1
        tar.offset += len(header) + blocks * tarfile.BLOCKSIZE

    def place(self, *, key: str, rel: str) -> None:
        source = blob_local_path(key)
        if source is not None:
            with open(source, "rb") as fh:
                self.add_stream(rel, fh, os.fstat(fh.fileno()).st_size)
        else:
            storage = blob_storage()
            with storage.open(key, "rb") as fh:
                self.add_stream(rel, fh, storage.size(key))

    def add_folder(self, folder: Path) -> None:
        """Every file under `folder` (what the exporter wrote itself, the manifest, the checksums), path order."""
        for rel in walk_sorted(folder):
            with open(folder / rel, "rb") as fh:
                self.add_stream(rel, fh, os.fstat(fh.fileno()).st_size)


# --------------------------------------------------------------------------------------------------------------
# SHA256SUMS
# --------------------------------------------------------------------------------------------------------------

# Path order (by parts, as pathlib sorts: "a/b" before "a.txt") as plain string order: each "/" becomes a
# character below every one a name holds, so no key function has to split each path while sorting.
PART_BREAK = "\x00"


def _sortable(rel: str) -> str:
    return rel.replace("/", PART_BREAK)


def _readable(sortable: str) -> str:
    return sortable.replace(PART_BREAK, "/")


def walk(folder: Path, prefix: str = "") -> Iterator[str]:
    """Relative paths of every file under `folder`, in no particular order, one directory entry at a time."""
    with os.scandir(folder) as it:
        for entry in it:
            if entry.is_dir(follow_symlinks=False):
                yield from walk(Path(folder) / entry.name, f"{prefix}{entry.name}/")
            else:
                yield prefix + entry.name


def walk_sorted(folder: Path) -> Iterator[str]:
    """`walk` in path order, sorted in bounded runs: an images folder of 100 000 names is never one list."""
    return (_readable(line[:-1]) for line in external_sorted(_sortable(rel) + "\n" for rel in walk(folder)))


SORT_RUN = 10_000


def external_sorted(lines: Iterator[str]) -> Iterator[str]:
    """`sorted(lines)` with memory bounded by SORT_RUN lines: sorted runs spooled to temporary files, then
    merged. Each line ends in a newline."""
    with contextlib.ExitStack() as stack:
        runs = []
        source = iter(lines)
        while True:
            run = [line for _, line in zip(range(SORT_RUN), source)]
            if not run:
                break
            run.sort()
            spool = stack.enter_context(tempfile.TemporaryFile("w+", encoding="utf-8"))
            spool.writelines(run)
            spool.seek(0)
            runs.append(spool)
            del run
        yield from heapq.merge(*runs)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class ChecksumLog:
    """The sha256 of every blob file placed in an export, known from its name: spooled to a temporary file,
    sorted at the end in runs (external merge sort), so memory stays flat however many files there are."""

    def __init__(self):
        self._spool = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 (closed by close())
        self.count = 0

    def add(self, rel: str, sha256: str) -> None:
        # "\t" sorts below every character of a name: "a" before "a.b", as in path order.
        self._spool.write(f"{_sortable(rel)}\t{sha256}\n")
        self.count += 1

    def sorted_entries(self) -> Iterator[tuple[str, str]]:
        self._spool.seek(0)
        for line in external_sorted(self._spool):
            rel, sha = line[:-1].split("\t")
            yield _readable(rel), sha

    def close(self) -> None:
        self._spool.close()


def write_checksums(folder: Path, log: ChecksumLog, *, exclude: tuple[str, ...] = ()) -> None:
    """`folder`/SHA256SUMS: every file in `log` (sum as recorded) and every file under `folder` (sum as logged,
    else computed: files the exporter wrote itself), in path order; top-level names in `exclude` left out."""
    logged = log.sorted_entries()
    walked = (rel for rel in walk_sorted(folder) if rel not in exclude)
    with open(folder / "SHA256SUMS", "w") as out:
        for rel, sha in _merge_sums(logged, walked, folder):
            out.write(f"{sha}  {rel}\n")


def _merge_sums(logged: Iterator[tuple[str, str]], walked: Iterator[str], folder: Path) -> Iterator[tuple[str, str]]:
    log_head, walk_head = next(logged, None), next(walked, None)
    while log_head is not None or walk_head is not None:
        if walk_head is None or (log_head is not None and _sortable(log_head[0]) <= _sortable(walk_head)):
            if walk_head == log_head[0]:
                walk_head = next(walked, None)  # placed in the folder: the logged sum holds
            yield log_head
            log_head = next(logged, None)
        else:
            yield walk_head, sha256_file(folder / walk_head)
            walk_head = next(walked, None)

