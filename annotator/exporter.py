"""Label Studio tasks: tasks.json (a JSON array, one task per line) and images/{split}/NAME.

A task: {"data": {"image": "images/{split}/NAME", "flawmap_image_id", "sha256", "split"}, ...}; the
image path is relative to the export folder (serve it, or rewrite the prefix, before importing).
- human label → "annotations": [{"result": ..., "lead_time": seconds (when known)}]
- model label → "predictions": [{"result": ..., "model_version": ..., "score": ...}], "annotations": []
  (a model's pass imported as an annotation would count as a finished human task)
- unlabelled → "annotations": []
Results are built by `annotator.converter.labels_to_results` (brush RLE of the mask, rectangles named by
class name, per-region captions) for the project's labelling config (`annotator.labeling_config`); a
"no artifacts" pass also gets the no-artifacts choice. The SDK is only ever touched there.
"""

import json
from collections import deque
from collections.abc import Iterator
from itertools import islice

from annotator.converter import CHOICE_FROM, IMAGE_TO, NO_ARTIFACTS_CHOICE, LSRegion, labels_to_results
from backend.annotations.models import Annotation
from datasets.exporters import register
from datasets.exporters.base import Exporter, ExportItem

# Items whose annotation details (lead time, no-artifacts flag, model) are fetched in one query.
CHUNK = 200


def _with_annotations(items: Iterator[ExportItem]) -> Iterator[tuple[ExportItem, Annotation | None]]:
    while True:
        chunk = deque(islice(items, CHUNK))
        if not chunk:
            return
        ids = [item.annotation_id for item in chunk if item.annotation_id is not None]
        annotations = Annotation.objects.select_related("model_version").in_bulk(ids)
        while chunk:  # popleft: a finished item (and the mask it loaded) is released at once
            item = chunk.popleft()
            yield item, annotations.get(item.annotation_id)


def task_results(item: ExportItem, annotation: Annotation, names: dict[str, str]) -> list[dict]:
    regions = [
        LSRegion(*(float(v) for v in r["bbox"]), label=names.get(r["class"], r["class"]), caption=r.get("caption", ""))
        for r in item.regions
    ]
    results = labels_to_results(mask=item.mask, regions=regions, width=item.width, height=item.height)
    if annotation.no_artifacts:
        results.append({"id": "no_artifacts", "from_name": CHOICE_FROM, "to_name": IMAGE_TO, "type": "choices",
                        "value": {"choices": [NO_ARTIFACTS_CHOICE]}})
    return results


@register
class LabelStudioExporter(Exporter):
    name = "labelstudio"
    description = ("Label Studio tasks.json (brush masks, class boxes, captions; model labels as predictions) "
                   "+ images/{split}/")

    def write(self, *, items, context):
        names = {slug: name for _code, slug, name, _definition in context.classes}
        with open(context.out / "tasks.json", "w", encoding="utf-8") as fh:
            fh.write("[")
            first = True
            for item, annotation in _with_annotations(items()):
                context.copy_image(item, context.out / "images" / item.split)
                task = {"data": {"image": f"images/{item.split}/{item.image_filename}",
                                 "flawmap_image_id": item.image_id, "sha256": item.sha256, "split": item.split},
                        "annotations": []}
                if annotation is not None:
                    results = task_results(item, annotation, names)
                    if item.label_source == "model":
                        task["predictions"] = [{"result": results, "model_version": str(annotation.model_version or ""),
                                                "score": annotation.score}]
                    else:
                        entry = {"result": results}
                        if annotation.lead_time is not None:
                            entry["lead_time"] = annotation.lead_time
                        task["annotations"] = [entry]
                fh.write(("\n" if first else ",\n") + json.dumps(task, ensure_ascii=False))
                first = False
            fh.write("\n]\n")
