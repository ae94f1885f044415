"""Exporters, one module per format, found by name in `EXPORTERS`."""

from datasets.exporters.base import Exporter

EXPORTERS: dict[str, type[Exporter]] = {}


def register(cls: type[Exporter]) -> type[Exporter]:
    if cls.name in EXPORTERS:
        raise ValueError(f"exporter {cls.name!r} registered twice")
    EXPORTERS[cls.name] = cls
    return cls


def get_exporter(name: str) -> Exporter:
    try:
        return EXPORTERS[name]()
    except KeyError:
        raise KeyError(f"unknown export format {name!r}; known: {', '.join(sorted(EXPORTERS))}") from None


# Importing the modules registers them.
from datasets.exporters import pal4vst  # noqa: E402,F401
from datasets.exporters import coco  # noqa: E402,F401
from datasets.exporters import labelstudio  # noqa: E402,F401
from datasets.exporters import synartifact  # noqa: E402,F401
from datasets.exporters import vlm_jsonl  # noqa: E402,F401
