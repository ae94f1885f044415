"""Content-addressed blob storage on top of Django's "blobs" storage (local disk or S3).

Services write blobs inside `atomic_with_blobs()`: the file goes in first, the row after, in one
transaction. If that block fails, the files it created are removed again, so a failed write leaves
neither row nor file. A crash between file write and commit can leave a file with no row;
`manage.py blobs_gc` removes those.
"""

import contextvars
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db import IntegrityError, transaction

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
        storage = blob_storage()
        for key in keys:
            # The row went with the rollback unless another transaction committed the same bytes.
            if not Blob.objects.filter(key=key).exists():
                storage.delete(key)
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
    transaction.on_commit(lambda: blob_storage().delete(key))
    return True


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
