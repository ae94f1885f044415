"""Pinning images against deletion while many rows that point at them are written without a database check.

A dataset snapshot writes up to millions of items pointing at images and their annotations. With a foreign-key
constraint PostgreSQL checks every item at commit and locks the image and annotation rows it points at, one
by one: at a million items that was most of the snapshot (33 of 78 s), against 12 s for writing the rows. So
those columns carry no database constraint (datasets/models.py) and integrity is kept here instead: a writer
of such references holds the shared lock for its transaction, `image_delete` (the one way an image or an
annotation is removed; annotations are otherwise only marked deleted) holds the exclusive one. A delete
therefore waits for a running snapshot and then sees its items (PROTECT refuses it), and a snapshot that starts
after a delete does not select what it removed.

A delete waits at most IMAGE_DELETE_WAIT_SECONDS for running snapshots (a web request must not hang for a
whole snapshot), then is refused saying why; nothing is deleted then.

SQLite (the demo's database) has no advisory locks, but it lets one transaction write at a time.
"""

import time

from django.db import connection

from backend.core.exceptions import ApplicationError

# Its own key space (the first number): the intake's locks are (0x464D "FM", a Label Studio annotation id).
PIN_LOCK = (0x494D, 1)  # "IM"
IMAGE_DELETE_WAIT_SECONDS = 10.0


def images_pin() -> None:
    """Until the current transaction ends, no image or annotation is deleted (shared: pins do not wait for
    each other)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock_shared(%s, %s)", PIN_LOCK)


def images_delete_lock(*, wait_seconds: float = IMAGE_DELETE_WAIT_SECONDS) -> None:
    """Wait for every transaction that pinned images to end (at most `wait_seconds`, else ApplicationError), and
    keep new pins out until this transaction ends."""
    if connection.vendor != "postgresql":
        return
    deadline = time.monotonic() + wait_seconds
    with connection.cursor() as cursor:
        while True:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", PIN_LOCK)
            if cursor.fetchone()[0]:
                return
            if time.monotonic() > deadline:
                raise ApplicationError(f"a dataset snapshot is being written (still after {wait_seconds:g} s); "
                                       "nothing was deleted: try again when it is done")
            time.sleep(0.1)
