"""The PAL4VST / mmsegmentation layout (ml/pal4vst_layout.py): images by split, 0/1 PNG labels beside them."""

import numpy as np

from backend.annotations.masks import mask_array_to_canonical
from datasets.exporters import register
from datasets.exporters.base import Exporter
from ml.pal4vst_layout import images_dir, label_of, labels_dir


@register
class Pal4vstExporter(Exporter):
    name = "pal4vst"
    description = "mmseg layout images/{split}/, labels/{split}/ (0 clean, 1 artifact), read by the segmenter trainer"

    def write(self, *, items, context):
        for item in items():
            if item.row.annotation_id is None:
                continue  # unlabelled: no segmentation to train on (an all-zero label would claim "clean")
            context.copy_image(item, images_dir(context.out, item.split))
            label = label_of(labels_dir(context.out, item.split), item.sha256)
            if item.mask_key:
                # Stored masks already are 0/1 PNGs: copy the bytes, no decode/encode.
                context.copy_blob(key=item.mask_key, sha256=item.row.mask_sha256, dest=label)
            else:
                # Labelled without a mask (e.g. "no artifacts"): an all-clean label, in the stored masks' encoding.
                label.parent.mkdir(parents=True, exist_ok=True)  # may be this split's first label
                label.write_bytes(mask_array_to_canonical(np.zeros((item.height, item.width), bool)).png)
