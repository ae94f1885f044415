"""SynArtifact layout: annotations/{split}/{sha256}.json per image, images/{split}/NAME.

Each JSON is `{"Artifacts annotation": [{"rect_start": [x1, y1], "rect_end": [x2, y2],
"artifacts_caption": "...", "artifacts_class": "<code>"}], "Other artifacts caption": ""}` with integer
pixel corners (rounded half up, at least 1 px wide and tall), regions sorted by (code, box, caption).
Labelled images without regions (clean, or painted but not classified) get an empty list; unlabelled
items are left out, since an empty list would claim the image is clean.
"""

import json

from datasets.exporters import register
from datasets.exporters.base import Exporter
from datasets.vlm_template import code_key, int_box


def synartifact_json(regions: list[dict]) -> dict:
    entries = []
    for region in regions:
        x1, y1, x2, y2 = int_box(region["bbox"])
        entries.append({"rect_start": [x1, y1], "rect_end": [x2, y2],
                        "artifacts_caption": region.get("caption", ""), "artifacts_class": str(region["code"])})
    entries.sort(key=lambda e: (code_key(e["artifacts_class"]), *e["rect_start"], *e["rect_end"],
                                e["artifacts_caption"]))
    return {"Artifacts annotation": entries, "Other artifacts caption": ""}


@register
class SynArtifactExporter(Exporter):
    name = "synartifact"
    description = ("SynArtifact JSON per image, annotations/{split}/{sha256}.json (boxes, class codes, captions) "
                   "+ images/{split}/")

    def write(self, *, items, context):
        for item in items():
            if item.annotation_id is None:
                continue
            labels = context.out / "annotations" / item.split
            labels.mkdir(parents=True, exist_ok=True)
            context.copy_image(item, context.out / "images" / item.split)
            text = json.dumps(synartifact_json(item.regions), ensure_ascii=False, indent=2)
            # A string path: pathlib would intern each file's name (see ExportContext.copy_blob).
            with open(f"{labels}/{item.sha256}.json", "w", encoding="utf-8") as fh:
                fh.write(text + "\n")
