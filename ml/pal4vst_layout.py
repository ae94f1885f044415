"""The PAL4VST (mmsegmentation) folder layout, described once for everything that writes or reads it:

    ROOT/images/{split}/[TASK/]NAME.{png,jpg,jpeg}   the images; a sub-folder names the synthesis task
    ROOT/labels/{split}/[TASK/]NAME.png              their masks at the same relative path, 8-bit L:
                                                     0 clean, 1 artifact (255 ignored in training)
    ROOT/items.jsonl                                 optional, one line per image: {"image": "{split}/[TASK/]NAME.ext",
                                                     "split", "sha256", "task", "generator"}; where it names an
                                                     image, its task wins over the sub-folder (Flawmap's exports
                                                     are flat)

Importing it is cheap (no torch), so the exporter and the ingest CLI use it as the trainer does.
"""

from __future__ import annotations

import json
from pathlib import Path

IMAGES, LABELS = "images", "labels"
ITEMS = "items.jsonl"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def images_dir(root: Path, split: str) -> Path:
    return Path(root) / IMAGES / split


def labels_dir(root: Path, split: str) -> Path:
    return Path(root) / LABELS / split


def label_of(labels: Path, relative_image: Path) -> Path:
    """The mask of the image at `relative_image` (relative to its images folder) under `labels`."""
    return Path(labels) / Path(relative_image).with_suffix(".png")


def task_of(relative_image: Path) -> str:
    """The synthesis task of an image: its sub-folder under images/{split}/ ('' when it sits at the top)."""
    relative_image = Path(relative_image)
    return relative_image.parent.as_posix() if relative_image.parent != Path(".") else ""


def item_line(*, image: str | Path, split: str, sha256: str, task: str, generator: str) -> str:
    """One items.jsonl line; `image` is relative to ROOT/images/ (a string is taken as written, "/"-separated:
    an exporter writing one line per image skips a Path per line)."""
    image = image if isinstance(image, str) else Path(image).as_posix()
    return json.dumps({"image": image, "split": split, "sha256": sha256, "task": task,
                       "generator": generator}, sort_keys=True) + "\n"


def read_items(root: Path) -> dict[str, dict]:
    """items.jsonl as {image path relative to ROOT/images/: its line}; empty when the folder has none."""
    path = Path(root) / ITEMS
    if not path.is_file():
        return {}
    with open(path) as fh:
        return {row["image"]: row for row in map(json.loads, filter(str.strip, fh))}


def is_layout_root(root: Path) -> bool:
    return (Path(root) / IMAGES).is_dir() and (Path(root) / LABELS).is_dir()


def has_split(root: Path, split: str) -> bool:
    """Whether the split holds at least one file."""
    folder = images_dir(root, split)
    return folder.is_dir() and any(folder.iterdir())
