"""Ingest many items, one transaction each: a bad file is reported and the rest still go in."""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from backend.core.exceptions import ApplicationError
from backend.images.models import Generator, SynthesisTask
from backend.images.services import IngestItem, ItemRejected, image_ingest


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
    """`items` may contain ItemRejected for files that failed before ingest (unreadable, bad manifest)."""
    report = IngestReport()
    for item in items:
        try:
            if isinstance(item, ItemRejected):
                raise item
            outcome = image_ingest(item=item, generator=generator, task=task, annotator=annotator)
        except ItemRejected as exc:
            report.rejected.append({"path": exc.path, "error": exc.error})
        except ApplicationError as exc:
            report.rejected.append({"path": getattr(item, "name", "?"), "error": exc.message})
        else:
            report.image_ids.append(outcome.image.pk)
            if outcome.created:
                report.ingested += 1
            else:
                report.duplicates += 1
        if on_item is not None:
            on_item()
    return report
