"""COCO instances: annotations/instances_{split}.json and images/{split}/NAME, written as a stream.

Categories: the taxonomy classes with id = int(code), plus id 0 "artifact" (generic: an artifact whose
class is unknown). Image entries carry file_name (relative to images/{split}/), width, height, sha256
and label_source ("human" or "model"). Unlabelled items are left out: an image without annotations would
claim the image is clean.

Annotations of one image, so that the union of their masks is the stored mask pixel for pixel:
- one per region: bbox [x, y, w, h] as stored, category_id = int(code), attributes.caption;
  segmentation = the stored mask restricted to the pixels the box touches (COCO RLE, counts as str);
- one category-0 annotation for the painted pixels no box touches (the whole mask when there are no
  regions), bbox = the tight box of those pixels;
- when the label has no mask, regions are bbox-only with "segmentation": [] (pycocotools loads the file,
  but `annToMask` only works for the RLE annotations).
area = painted pixels in the segmentation; for bbox-only regions, and regions whose box holds no painted
pixel, the box area (detectors commonly drop area-0 objects and would lose the box).

Memory stays constant: one pass over the items; per split the images array goes straight into the JSON
file and the annotations array into an anonymous temporary file that is appended at the end.
"""

import json
import math
import shutil
import tempfile
from contextlib import ExitStack
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils

from datasets.exporters import register
from datasets.exporters.base import Exporter, ExportItem

GENERIC_ID = 0
GENERIC_CATEGORY = {
    "id": GENERIC_ID, "name": "artifact", "supercategory": "artifact",
    "definition": "Any artifact region, class unknown: painted artifact pixels that no classified box covers.",
}


def _dumps(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def categories(classes) -> list[dict]:
    out = []
    for code, _slug, name, definition in classes:
        if not (str(code).isascii() and str(code).isdigit()):
            raise ValueError(f"COCO needs integer category ids, but class {name!r} has code {code!r}")
        out.append({"id": int(code), "name": name, "supercategory": "artifact", "definition": definition})
    return out + [GENERIC_CATEGORY]


def box_window(bbox, *, width: int, height: int) -> tuple[int, int, int, int]:
    """Rows/columns [r0, r1) × [c0, c1) of the pixels a pixel box [x1, y1, x2, y2] touches."""
    x1, y1, x2, y2 = (float(v) for v in bbox)
    c0, r0 = max(0, math.floor(x1)), max(0, math.floor(y1))
    c1, r1 = min(width, math.ceil(x2)), min(height, math.ceil(y2))
    return r0, max(r0, r1), c0, max(c0, c1)


def rle_json(binary: np.ndarray) -> dict:
    rle = mask_utils.encode(np.asfortranarray(binary.astype(np.uint8)))
    return {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")}


def item_annotations(item: ExportItem) -> list[dict]:
    """The COCO annotations of one item, without ids (see the module docstring)."""
    out = []
    mask = item.mask
    covered = None if mask is None else np.zeros(mask.shape, bool)
    for region in item.regions:
        x1, y1, x2, y2 = (float(v) for v in region["bbox"])
        box_area = (x2 - x1) * (y2 - y1)
        ann = {"category_id": int(region["code"]), "bbox": [x1, y1, x2 - x1, y2 - y1], "iscrowd": 0,
               "attributes": {"caption": region.get("caption", "")}}
        if mask is None:
            ann.update(segmentation=[], area=box_area)
        else:
            r0, r1, c0, c1 = box_window(region["bbox"], width=item.width, height=item.height)
            part = np.zeros(mask.shape, bool)
            part[r0:r1, c0:c1] = mask[r0:r1, c0:c1]
            covered[r0:r1, c0:c1] = True
            pixels = int(np.count_nonzero(part))
            ann.update(segmentation=rle_json(part), area=pixels or box_area)
        out.append(ann)
    if mask is not None:
        rest = mask & ~covered
        if rest.any():
            ys, xs = np.nonzero(rest)
            x, y = float(xs.min()), float(ys.min())
            out.append({"category_id": GENERIC_ID, "bbox": [x, y, float(xs.max()) + 1 - x, float(ys.max()) + 1 - y],
                        "iscrowd": 0, "attributes": {"caption": ""}, "segmentation": rle_json(rest),
                        "area": int(np.count_nonzero(rest))})
    return out


class _SplitFile:
    """One instances_{split}.json: images streamed into the file, annotations spooled and appended."""

    def __init__(self, stack: ExitStack, path: Path, header: dict):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = stack.enter_context(open(path, "w", encoding="utf-8"))  # noqa: SIM115 (closed by the stack)
        self.spool = stack.enter_context(tempfile.TemporaryFile("w+", encoding="utf-8"))  # noqa: SIM115
        body = _dumps(header)[:-1]  # leave the object open
        self.fh.write(body + ',\n"images":[\n')
        self.image_id = 0
        self.annotation_id = 0

    def add(self, image: dict, annotations: list[dict]) -> None:
        self.image_id += 1
        self.fh.write(("" if self.image_id == 1 else ",\n") + _dumps({"id": self.image_id, **image}))
        for ann in annotations:
            self.annotation_id += 1
            entry = {"id": self.annotation_id, "image_id": self.image_id, **ann}
            self.spool.write(("" if self.annotation_id == 1 else ",\n") + _dumps(entry))

    def finish(self) -> None:
        self.fh.write('\n],\n"annotations":[\n')
        self.spool.seek(0)
        shutil.copyfileobj(self.spool, self.fh)
        self.fh.write("\n]}\n")


@register
class CocoExporter(Exporter):
    name = "coco"
    description = ("COCO instances, annotations/instances_{split}.json (RLE masks per classified box, category 0 "
                   "for unboxed artifact pixels) + images/{split}/")

    def write(self, *, items, context):
        cats = categories(context.classes)
        version = context.version
        files: dict[str, _SplitFile] = {}
        with ExitStack() as stack:

            def split_file(split: str) -> _SplitFile:
                if split not in files:
                    header = {
                        "info": {"description": f"Flawmap dataset {version.dataset.name} v{version.number}, "
                                                f"split {split}",
                                 "version": str(version.number), "manifest_hash": version.manifest_hash,
                                 "split": split},
                        "licenses": [], "categories": cats,
                    }
                    path = context.out / "annotations" / f"instances_{split}.json"
                    files[split] = _SplitFile(stack, path, header)
                return files[split]

            for split in version.dataset.splits:  # every configured split gets a file, even an empty one
                split_file(split)
            for item in items():
                if item.annotation_id is None:
                    continue
                context.copy_image(item, context.out / "images" / item.split)
                split_file(item.split).add(
                    {"file_name": item.image_filename, "width": item.width, "height": item.height,
                     "sha256": item.sha256, "label_source": item.label_source},
                    item_annotations(item),
                )
            for f in files.values():
                f.finish()
