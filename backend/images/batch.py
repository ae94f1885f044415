"""Ingest many items, one transaction each: a bad file is reported and the rest still go in."""

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from django.db import DatabaseError

from backend.core.exceptions import ApplicationError
from backend.images.batch_store import images_store_many, is_plain
from backend.images.models import GeneratedImage, Generator, SynthesisTask
from backend.images.services import (
    IngestItem,
    IngestOutcome,
    ItemRejected,
    PreparedItem,
    image_prepare,
    image_store,
)
from backend.images.signals import unlabelled_images_ingested

STORE_BATCH = 32
LOOKAHEAD = 2 * STORE_BATCH  # the threads decode the next batch while one is stored
PREPARE_THREADS = 2


@dataclass
class IngestReport:
    ingested: int = 0
    duplicates: int = 0
    rejected: list[dict] = field(default_factory=list)
    image_ids: list[int] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"ingested": self.ingested, "duplicates": self.duplicates, "rejected": self.rejected}


def images_ingest_batch(
    *,
    items: Iterable[IngestItem | ItemRejected],
    generator: Generator,
    task: SynthesisTask,
    annotator=None,
    on_item: Callable[[], None] | None = None,
) -> IngestReport:
    """`items` may contain ItemRejected for files that failed before ingest (unreadable, bad manifest).

    Decoding and hashing (no database) run in threads ahead of the storing loop; Pillow and hashlib release
    the GIL, so that work overlaps the database round trips. Runs of plain new images (no mask, no
    conditional inputs) are stored STORE_BATCH at a time in one transaction (backend/images/batch_store.py);
    if such a batch fails (a concurrent ingest of the same bytes), its items are stored one by one instead.
    Order and results are the same as ingesting one item after another; memory holds at most LOOKAHEAD items.
    """
    report = IngestReport()
    unlabelled_new: list[int] = []

    def record(item, store: Callable[[], IngestOutcome]) -> None:
        try:
            if isinstance(item, ItemRejected):
                raise item
            outcome = store()
        except ItemRejected as exc:
            report.rejected.append({"path": exc.path, "error": exc.error})
        except ApplicationError as exc:
            report.rejected.append({"path": getattr(item, "name", "?"), "error": exc.message})
        else:
            report.image_ids.append(outcome.image.pk)
            if outcome.created:
                report.ingested += 1
                if not outcome.image.is_labelled:
                    unlabelled_new.append(outcome.image.pk)
            else:
                report.duplicates += 1
        if on_item is not None:
            on_item()

    def store_one(prepared: PreparedItem) -> Callable[[], IngestOutcome]:
        return lambda: image_store(prepared=prepared, generator=generator, task=task, annotator=annotator)

    plain: list[PreparedItem] = []

    def flush() -> None:
        if not plain:
            return
        try:
            outcomes = images_store_many(prepared=plain, generator=generator, task=task)
        except DatabaseError:
            outcomes = None  # rolled back whole: store them one by one, as without batching
        for index, prepared in enumerate(plain):
            record(prepared.item, store_one(prepared) if outcomes is None else (lambda o=outcomes[index]: o))
        plain.clear()

    for item, prepared in _prepared_in_order(items):
        if is_plain(prepared):
            plain.append(prepared)
            if len(plain) >= STORE_BATCH:
                flush()
            continue
        flush()
        record(item, store_one(prepared))
    flush()
    if unlabelled_new:
        # The model registry pre-labels them (a job per production model).
        unlabelled_images_ingested.send(sender=GeneratedImage, image_ids=unlabelled_new)
    return report


def _prepared_in_order(items: Iterable[IngestItem | ItemRejected]) -> Iterator[tuple[object, PreparedItem | None]]:
    with ThreadPoolExecutor(max_workers=PREPARE_THREADS, thread_name_prefix="ingest-prepare") as pool:
        pending: deque[tuple[object, Future | None]] = deque()
        source = iter(items)

        def refill() -> None:
            while len(pending) < LOOKAHEAD:
                item = next(source, None)
                if item is None:
                    return
                future = None if isinstance(item, ItemRejected) else pool.submit(image_prepare, item=item)
                pending.append((item, future))

        refill()
        while pending:
            item, future = pending.popleft()
            refill()
            yield item, future.result() if future is not None else None
