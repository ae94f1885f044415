"""`blob_store` for a batch whose hashes are already known (ingest hashed each file while checking it):
one look-up, one lock statement, one insert for the lot, and no second pass over the bytes.

Same contract as `blob_store` (backend/core/blobs.py): call it inside `atomic_with_blobs()`, which removes the
files it wrote if the block rolls back. A concurrent writer inserting the same bytes makes the insert raise
IntegrityError (no silent skip): the caller then stores the batch one item at a time, as before batching.
"""

from django.core.files.base import ContentFile

from backend.core.blobs import _files_hold, _new_keys, blob_key_for, blob_storage
from backend.core.models import Blob


def blobs_store_hashed(*, items: list[tuple[str, bytes, str]]) -> dict[str, Blob]:
    """The Blob of each (sha256, data, content type), by sha256; files written only for new contents."""
    keys = _new_keys.get()
    if keys is None:
        raise RuntimeError("blobs_store_hashed must be called inside atomic_with_blobs()")
    wanted = {sha: (data, content_type) for sha, data, content_type in items}
    found = {b.sha256: b for b in Blob.objects.filter(sha256__in=list(wanted))}
    new_keys = {sha: blob_key_for(sha256=sha, content_type=ct) for sha, (_, ct) in wanted.items() if sha not in found}
    _files_hold(list(new_keys.values()))  # deleters keep off these files until the commit
    storage = blob_storage()
    rows = []
    for sha, key in new_keys.items():
        data, content_type = wanted[sha]
        if not storage.exists(key):
            saved = storage.save(key, ContentFile(data))
            if saved != key:
                storage.delete(saved)  # a concurrent writer stored the same bytes under this key first
            else:
                keys.append(key)
        rows.append(Blob(sha256=sha, key=key, size=len(data), content_type=content_type))
    found.update((blob.sha256, blob) for blob in Blob.objects.bulk_create(rows))
    return found
