"""Pinning images against deletion while many rows that point at them are written without a database check.

A dataset snapshot writes up to millions of items pointing at images and their annotations. With a foreign-key
constraint PostgreSQL checks every item at commit and locks the image and annotation rows it points at, one
by one: at a million items that was most of the snapshot (33 of 78 s), against 12 s for writing the rows. So
those columns carry no database constraint (datasets/models.py) and integrity is kept here instead: a writer
of such references holds the shared lock for its transaction, `image_delete` (the one way an image or an
annotation is removed; annotations are otherwise only marked deleted) holds the exclusive one. A delete
therefore waits for a running snapshot and then sees its items (PROTECT refuses it), and a snapshot that starts
after a delete does not select what it removed.

SQLite (the demo's database) has no advisory locks, but it lets one transaction write at a time.
"""

from django.db import connection

LOCK_NAMESPACE = 0x464D  # "FM", as the intake's locks
IMAGES_PINNED = 0x494D  # "IM"


def images_pin() -> None:
    """Until the current transaction ends, no image or annotation is deleted (shared: pins do not wait for
    each other)."""
    _lock("pg_advisory_xact_lock_shared")


def images_delete_lock() -> None:
    """Wait for every transaction that pinned images to end, and keep new pins out until this transaction ends."""
    _lock("pg_advisory_xact_lock")


def _lock(function: str) -> None:
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {function}(%s, %s)", [LOCK_NAMESPACE, IMAGES_PINNED])
