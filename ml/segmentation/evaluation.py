"""Score a checkpoint on a split of a PAL4VST-layout folder, through the same Predictor the backend uses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from ml.pal4vst_layout import IMAGE_SUFFIXES, IMAGES, images_dir, label_of, labels_dir, read_items, task_of

from .metrics import SplitScorer
from .predictor import Predictor


def split_pairs(data_root: Path, split: str) -> list[tuple[Path, Path, str]]:
    """(image, label, task) for every image of the split; a missing folder or label is an error. The task is the
    one items.jsonl names, else the image's sub-folder."""
    img_dir, ann_dir = images_dir(data_root, split), labels_dir(data_root, split)
    items = read_items(data_root)
    if not img_dir.is_dir():
        raise FileNotFoundError(f"no images/{split} folder in {data_root}")
    pairs = []
    for image in sorted(p for p in img_dir.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()):
        relative = image.relative_to(img_dir)
        label = label_of(ann_dir, relative)
        if not label.is_file():
            raise FileNotFoundError(f"label missing for {image}: expected {label}")
        item = items.get((Path(split) / relative).as_posix(), {})
        pairs.append((image, label, item.get("task") or task_of(relative)))
    if not pairs:
        raise FileNotFoundError(f"images/{split} in {data_root} holds no .png/.jpg image")
    return pairs


def evaluate_split(predictor: Predictor, data_root: Path, split: str) -> dict:
    pairs = split_pairs(data_root, split)
    items = read_items(data_root)  # the generator of each image, where the export recorded it
    scorer = SplitScorer()
    images = [image for image, _, _ in pairs]
    for (image, label, task), (mask, _, _) in zip(pairs, predictor.iter_predict(images)):
        gt = np.asarray(Image.open(label))
        if gt.ndim == 3:
            gt = gt[..., 0]
        generator = items.get(image.relative_to(Path(data_root) / IMAGES).as_posix(), {}).get("generator", "")
        scorer.add(mask, gt, task, generator)
    return {"split": split, **scorer.result()}
