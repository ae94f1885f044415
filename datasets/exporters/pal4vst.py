"""The PAL4VST / mmsegmentation layout (ml/pal4vst_layout.py): images by split, 0/1 PNG labels beside them."""

import os
from pathlib import Path

import numpy as np

from backend.annotations.masks import mask_array_to_canonical
from datasets.exporters import register
from datasets.exporters.base import Exporter
from ml.pal4vst_layout import ITEMS, images_dir, item_line, labels_dir


@register
class Pal4vstExporter(Exporter):
    name = "pal4vst"
    description = ("mmseg layout images/{split}/, labels/{split}/ (0 clean, 1 artifact), read by the segmenter "
                   "trainer; items.jsonl gives each image's task and generator")

    def write(self, *, items, context):
        # Per split, built once; per-file paths are strings (see ExportContext.copy_blob).
        folders: dict[str, tuple[str, str]] = {}
        # Appended to: a rehearsal sample (train_sample_export) adds images to a folder already exported.
        with open(context.out / ITEMS, "a") as manifest:
            for item in items():
                if item.annotation_id is None:
                    continue  # unlabelled: no segmentation to train on (an all-zero label would claim "clean")
                if item.split not in folders:
                    folders[item.split] = (os.fspath(images_dir(context.out, item.split)),
                                           os.fspath(labels_dir(context.out, item.split)))
                self._write_item(item, context, *folders[item.split])
                manifest.write(item_line(image=f"{item.split}/{item.image_filename}", split=item.split,
                                         sha256=item.sha256, task=item.task, generator=item.generator))

    def _write_item(self, item, context, images: str, labels: str):
        context.copy_image(item, images)
        label = f"{labels}/{item.sha256}.png"  # label_of(labels, sha256), without three more Path objects
        if item.mask_key:
            # Stored masks already are 0/1 PNGs: copy the bytes, no decode/encode.
            context.copy_blob(key=item.mask_key, sha256=item.mask_sha256, dest=label)
        else:
            # Labelled without a mask (e.g. "no artifacts"): an all-clean label, in the stored masks' encoding.
            os.makedirs(labels, exist_ok=True)  # may be this split's first label
            Path(label).write_bytes(mask_array_to_canonical(np.zeros((item.height, item.width), bool)).png)
