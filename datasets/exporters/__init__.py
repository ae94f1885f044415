"""Exporters, one module per format, found by name in `EXPORTERS`. Each app registers its formats (with
`@register`) in its AppConfig.ready(): datasets its own, annotator the Label Studio one."""

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
