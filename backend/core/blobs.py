"""Content-addressed blob storage on top of Django's "blobs" storage (local disk or S3).

Services write blobs inside `atomic_with_blobs()`: the file goes in first, the row after, in one
transaction. If that block fails, the files it created are removed again, so a failed write leaves
neither row nor file. A crash between file write and commit can leave a file with no row;
`manage.py blobs_gc` removes those once they are older than a grace period.

A file is deleted only through `_file_delete_if_unreferenced`, which holds an exclusive PostgreSQL advisory lock
on its key while it re-checks for a row; `blob_store` holds the same lock shared from before it looks for the file
until its transaction ends. So no file is removed between a writer finding it (or writing it) and the commit
of the row that references it.
"""

import contextvars
import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from django.conf import settings
from django.core.files.base import ContentFile, File
from django.core.files.storage import storages
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from backend.core.models import Blob

EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/webp": "webp",
    "image/bmp": "bmp",
    "image/tiff": "tif",
    "text/plain": "txt",
    "application/json": "json",
}

# Keys of files written by the innermost `atomic_with_blobs` block.
_new_keys: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("flawmap_new_blob_keys", default=None)


def blob_storage():
    return storages["blobs"]


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def blob_key_for(*, sha256: str, content_type: str) -> str:
    ext = EXTENSIONS.get(content_type, "bin")
    return f"blobs/{sha256[:2]}/{sha256[2:4]}/{sha256}.{ext}"


@contextmanager
def atomic_with_blobs() -> Iterator[None]:
    """`transaction.atomic()` that also removes the files it wrote when it rolls back."""
    keys: list[str] = []
    parent = _new_keys.get()
    token = _new_keys.set(keys)
    try:
        with transaction.atomic():
            yield
        if parent is not None:
            # Released savepoint: the enclosing block still decides whether these files stay.
            parent.extend(keys)
    except BaseException:
        for key in keys:
            # The row went with the rollback unless another transaction committed (or is committing) the same bytes.
            _file_delete_if_unreferenced(key)
        raise
    finally:
        _new_keys.reset(token)


def blob_store(*, data: bytes, content_type: str, sha256: str | None = None) -> Blob:
    """Return the Blob for these bytes, writing the file only if it is new."""
    keys = _new_keys.get()
    if keys is None:
        raise RuntimeError("blob_store must be called inside atomic_with_blobs()")
    sha = sha256 or sha256_hex(data)
    existing = Blob.objects.filter(sha256=sha).first()
    if existing is not None:
        return existing
    key = blob_key_for(sha256=sha, content_type=content_type)
    _file_hold(key)
    storage = blob_storage()
    if not storage.exists(key):
        saved = storage.save(key, ContentFile(data))
        if saved != key:
            # A concurrent writer stored the same bytes under this key first; keep theirs.
            storage.delete(saved)
        else:
            keys.append(key)
    try:
        with transaction.atomic():  # savepoint: a lost race must not spoil the caller's transaction
            return Blob.objects.create(sha256=sha, key=key, size=len(data), content_type=content_type)
    except IntegrityError:
        # Another transaction stored the same bytes meanwhile (the insert waited for it to commit).
        return Blob.objects.get(sha256=sha)


@dataclass(frozen=True)
class StagedBlob:
    """A local file already copied into blob storage under its content key, its row not yet written."""

    sha256: str
    key: str
    size: int
    content_type: str
    path: Path
    uploaded: bool  # this call wrote the file (False: the key was there already)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _file_put(key: str, path: Path, content_type: str) -> bool:
    """Stream `path` into storage under `key` unless it is there; True if this call wrote it."""
    storage = blob_storage()
    if storage.exists(key):
        return False
    with open(path, "rb") as fh:
        content = File(fh, name=key)
        content.content_type = content_type  # S3: the object's Content-Type (no Content-Encoding: see below)
        saved = storage.save(key, content)
    if saved != key:
        storage.delete(saved)  # a concurrent writer stored the same bytes under this key first; keep theirs
        return False
    return True


def blob_stage_file(*, path: Path, content_type: str) -> StagedBlob:
    """Copy a (large) local file into blob storage, streamed, BEFORE any transaction opens: an upload of an
    archive may take minutes and must not hold row locks. `blob_store_staged` then adds the row inside
    `atomic_with_blobs()`; `blob_discard_staged` removes the file when that never happens. A crash in between
    leaves a file without a row, which `blobs_gc` removes after its grace period.

    The key ends in `.bin` whatever the type (EXTENSIONS has no archive types on purpose): a `.tar.gz` name
    would make S3 store the object with `Content-Encoding: gzip`, and HTTP clients would unpack it on the way,
    handing over bytes that no longer match the sha256."""
    path = Path(path)
    sha = _file_sha256(path)
    key = blob_key_for(sha256=sha, content_type=content_type)
    uploaded = _file_put(key, path, content_type)
    return StagedBlob(sha256=sha, key=key, size=path.stat().st_size, content_type=content_type, path=path,
                      uploaded=uploaded)


def blob_store_staged(staged: StagedBlob) -> Blob:
    """The Blob row for a staged file (inside `atomic_with_blobs()`, like `blob_store`): the existing row for
    the same bytes, or a new one. If the file went meanwhile (an orphan sweep, a rolled-back twin) it is put
    again from the local file, under the lock that keeps deleters off until the commit."""
    keys = _new_keys.get()
    if keys is None:
        raise RuntimeError("blob_store_staged must be called inside atomic_with_blobs()")
    existing = Blob.objects.filter(sha256=staged.sha256).first()
    if existing is not None:
        return existing
    _file_hold(staged.key)
    if _file_put(staged.key, staged.path, staged.content_type) or staged.uploaded:
        keys.append(staged.key)  # a rollback removes it again (unless a committed row has it by then)
    try:
        with transaction.atomic():
            return Blob.objects.create(sha256=staged.sha256, key=staged.key, size=staged.size,
                                       content_type=staged.content_type)
    except IntegrityError:
        return Blob.objects.get(sha256=staged.sha256)


def blob_discard_staged(staged: StagedBlob) -> None:
    """Remove a staged file that never got its row (the publish failed or was refused), unless a row has it."""
    if staged.uploaded:
        _file_delete_if_unreferenced(staged.key)


def blob_download_url(blob: Blob, *, filename: str, expires_seconds: int) -> str | None:
    """A pre-signed GET link to the blob that expires after `expires_seconds` and makes browsers save it as
    `filename`, when the storage is S3; None for storages that cannot sign links (local disk: stream it)."""
    from storages.backends.s3 import S3Storage  # boto3 loads only where S3 is used

    storage = blob_storage()
    if not isinstance(storage, S3Storage):
        return None
    if settings.FLAWMAP_S3_PUBLIC_ENDPOINT_URL:
        # A SigV4 link is signed for its host: sign it for the address browsers use, not the cluster's.
        options = {**settings.STORAGES["blobs"]["OPTIONS"], "endpoint_url": settings.FLAWMAP_S3_PUBLIC_ENDPOINT_URL}
        storage = S3Storage(**options)
    quoted = filename.replace("\\", "_").replace('"', "_")
    return storage.url(blob.key, expire=expires_seconds, parameters={
        "ResponseContentDisposition": f'attachment; filename="{quoted}"',
        "ResponseContentType": blob.content_type,
    })


def blob_open(blob: Blob) -> IO[bytes]:
    return blob_storage().open(blob.key, "rb")


def blob_read(blob: Blob) -> bytes:
    with blob_open(blob) as fh:
        return fh.read()


def blob_delete_unreferenced(blob: Blob) -> bool:
    """Delete a blob (row, then file after commit) when nothing references it any more."""
    for rel in Blob._meta.related_objects:
        if rel.related_model.objects.filter(**{rel.field.name: blob}).exists():
            return False
    key = blob.key
    blob.delete()
    transaction.on_commit(lambda: _file_delete_if_unreferenced(key))
    return True


def _file_lock_id(key: str) -> int:
    """The advisory-lock number of a blob file: 60 bits of its key's hash (a positive bigint)."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:15], 16)


def _file_hold(key: str) -> None:
    """Keep deleters off this file until the current transaction ends (a shared lock: writers don't wait on
    each other). SQLite, the demo's database, has no advisory locks; there the grace period alone protects."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock_shared(%s)", [_file_lock_id(key)])


def _files_hold(keys: list[str]) -> None:
    """`_file_hold` for many keys in one statement."""
    if keys and connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(pg_advisory_xact_lock_shared(k)) FROM unnest(%s::bigint[]) AS k",
                           [[_file_lock_id(key) for key in keys]])


def _file_delete_if_unreferenced(key: str) -> bool:
    """Delete the file unless a committed Blob row has its key or a writer holds it (then it stays, for a later
    `blobs_gc`). The exclusive lock is only tried, never waited for, and held just around check and delete."""
    lock = _file_lock_id(key) if connection.vendor == "postgresql" else None
    if lock is not None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [lock])
            if not cursor.fetchone()[0]:
                return False
    try:
        if Blob.objects.filter(key=key).exists():
            return False
        blob_storage().delete(key)
        return True
    finally:
        if lock is not None:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [lock])


@dataclass
class OrphanSweep:
    """What `blob_orphans_delete` did: files removed, files kept for being younger than the grace period or
    held by a writer (or referenced meanwhile), and rows whose file is missing (a fault gc cannot repair)."""

    removed: list[str] = field(default_factory=list)
    young: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    rows_missing_file: int = 0


def blob_orphans_delete(*, grace_seconds: int, dry_run: bool = False) -> OrphanSweep:
    """Remove files in blob storage that no committed Blob row references and that were last modified more
    than `grace_seconds` ago. A younger file may be one that a transaction still in flight wrote before
    inserting its row; each older one is checked again, under the lock, right before it is deleted."""
    if grace_seconds < 0:
        raise ValueError("grace_seconds must be 0 or more")
    storage = blob_storage()
    listed_at = timezone.now()
    on_disk = storage_keys()
    known = set(Blob.objects.filter(key__in=on_disk).values_list("key", flat=True))
    sweep = OrphanSweep()
    for key in sorted(on_disk - known):
        try:
            modified = storage.get_modified_time(key)  # local: the file's mtime; S3: the object's LastModified
        except OSError:  # removed meanwhile
            continue
        if time.time() - modified.timestamp() < grace_seconds:
            sweep.young.append(key)
        elif dry_run or _file_delete_if_unreferenced(key):
            sweep.removed.append(key)
        else:
            sweep.held.append(key)
    # Rows committed after the listing have files the listing could not see.
    sweep.rows_missing_file = Blob.objects.filter(created_at__lt=listed_at).exclude(key__in=on_disk).count()
    return sweep


def storage_keys(prefix: str = "blobs") -> set[str]:
    """Every file under `prefix` in the blobs storage (walks directories / S3 prefixes)."""
    storage = blob_storage()
    found: set[str] = set()
    stack = [prefix]
    while stack:
        current = stack.pop()
        try:
            dirs, files = storage.listdir(current)
        except FileNotFoundError:
            continue
        found.update(f"{current}/{name}" for name in files)
        stack.extend(f"{current}/{name}" for name in dirs)
    return found


# --- Derived files (thumbnails and the like): made from a blob, kept under a key derived from its sha256 and what
# was made, outside blobs/ (no Blob row; blobs_gc never lists them). Losing one costs only its remaking.

def derived_key(*, sha256: str, variant: str, content_type: str) -> str:
    """Where the `variant` (a slug-like name: what was made and from which inputs) of blob `sha256` is kept."""
    return f"derived/{sha256[:2]}/{sha256}/{variant}.{EXTENSIONS.get(content_type, 'bin')}"


def derived_read(key: str) -> bytes | None:
    """The derived file's bytes, or None when it has not been made (or was lost)."""
    storage = blob_storage()
    if not storage.exists(key):
        return None
    try:
        with storage.open(key, "rb") as fh:
            return fh.read()
    except FileNotFoundError:  # removed between the two calls
        return None


def derived_save(key: str, data: bytes) -> None:
    """Keep a derived file; a concurrent maker's identical file wins (same inputs, same bytes)."""
    storage = blob_storage()
    if storage.exists(key):
        return
    saved = storage.save(key, ContentFile(data))
    if saved != key:
        storage.delete(saved)
