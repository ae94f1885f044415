"""Where API exports live: every archive the API writes or serves resolves inside FLAWMAP_EXPORT_DIR.

The path is checked after resolving it (symbolic links followed, ".." removed), when the job writes the export
and again when the download serves it: an Export row or job whose stored path was edited to point elsewhere, or
a link placed in the folder that leads out of it, is refused rather than followed. (The `export` CLI writes where
its operator says; such an export is not served by the API.)
"""

from pathlib import Path

from django.conf import settings

from backend.core.exceptions import ApplicationError


class ExportPathOutside(ApplicationError):
    """An export path that leaves FLAWMAP_EXPORT_DIR: 403, never written or served."""

    status_code = 403


def export_root() -> Path:
    return Path(settings.FLAWMAP_EXPORT_DIR).resolve()


def export_path_inside(path: str | Path) -> Path:
    """`path` resolved (links followed), if it lies inside FLAWMAP_EXPORT_DIR; ExportPathOutside otherwise."""
    root = export_root()
    resolved = (root / path).resolve()  # a relative path counts from the export folder
    if resolved == root or not resolved.is_relative_to(root):
        raise ExportPathOutside(f"export path {str(path)!r} is outside FLAWMAP_EXPORT_DIR; it is neither written "
                                "nor served")
    return resolved
