"""The image files the folder tools read (segmentation and VLM predict, rectify): one list for all of them."""

from __future__ import annotations

from pathlib import Path

IMAGE_INPUT_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


def list_images(path: Path, *, skip_top: tuple[str, ...] = ()) -> list[Path]:
    """A file is itself; a folder gives every image file under it, sorted, leaving out the top-level
    sub-folders named in `skip_top` (a tool's own output written inside its input)."""
    path = Path(path)
    if not path.is_dir():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_INPUT_SUFFIXES
                  and p.relative_to(path).parts[0] not in skip_top)
