"""PAL4VST / mmsegmentation layout: images/{split}/NAME, labels/{split}/NAME.png with 0/1 values."""

import shutil

import numpy as np

from datasets.exporters import register
from datasets.exporters.base import Exporter, write_png


@register
class Pal4vstExporter(Exporter):
    name = "pal4vst"
    description = "mmseg layout images/{split}/, labels/{split}/ (0 clean, 1 artifact), read by the segmenter trainer"

    def write(self, *, items, context):
        for item in items():
            if item.row.annotation_id is None:
                continue  # unlabelled: no segmentation to train on (an all-zero label would claim "clean")
            images = context.out / "images" / item.split
            labels = context.out / "labels" / item.split
            images.mkdir(parents=True, exist_ok=True)
            labels.mkdir(parents=True, exist_ok=True)
            with item.open_image() as src, open(images / item.image_filename, "wb") as dst:
                shutil.copyfileobj(src, dst)
            mask = item.mask
            label = np.zeros((item.height, item.width), np.uint8) if mask is None else mask.astype(np.uint8)
            write_png(labels / f"{item.sha256}.png", label)
