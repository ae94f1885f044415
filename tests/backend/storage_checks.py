"""Assertions that storage and tables agree: no row without its file, no file without its row."""

from backend.core.blobs import storage_keys
from backend.core.models import Blob


def assert_storage_matches_tables() -> None:
    files = storage_keys()
    rows = set(Blob.objects.values_list("key", flat=True))
    assert files == rows, (f"files without rows: {sorted(files - rows)[:5]};"
                           f" rows without files: {sorted(rows - files)[:5]}")
    unreferenced = [
        b.key for b in Blob.objects.all()
        if not any(rel.related_model.objects.filter(**{rel.field.name: b}).exists()
                   for rel in Blob._meta.related_objects)
    ]
    assert not unreferenced, f"blobs no row uses: {unreferenced[:5]}"
