"""VLM question-answer pairs: {split}.jsonl with one line per image, images/{split}/NAME, classes.json.

Each line: {"image": "images/{split}/NAME", "question": ..., "answer": ..., "sha256": ..., "label_source":
..., "width": ..., "height": ...}; the question and answer text come from `ml.vlm.template` (its docstring
is the format). `classes.json` lists the taxonomy's [code, slug, name, definition] so a trained model maps
its answers back to class slugs (ml.vlm reads it). Left out: unlabelled items, and items whose artifacts
are painted but not classified (a mask with pixels and no regions) — "none" would teach the model that
they are clean.
"""

import json
from contextlib import ExitStack

from datasets.exporters import register
from datasets.exporters.base import Exporter
from datasets.vlm_template import answer, question
from ml.vlm.data import write_classes


@register
class VlmJsonlExporter(Exporter):
    name = "vlm-jsonl"
    description = ("VLM question/answer lines, {split}.jsonl (template in ml/vlm/template.py) + images/{split}/ "
                   "+ classes.json")

    def write(self, *, items, context):
        prompt = question(context.classes)
        write_classes(context.out / "classes.json", context.classes)
        files = {}
        with ExitStack() as stack:

            def split_file(split: str):
                if split not in files:
                    files[split] = stack.enter_context(open(context.out / f"{split}.jsonl", "w", encoding="utf-8"))
                return files[split]

            for split in context.version.dataset.splits:  # every configured split gets a file, even an empty one
                split_file(split)
            for item in items():
                if item.annotation_id is None:
                    continue
                if not item.regions and item.mask is not None and item.mask.any():
                    continue  # artifacts without a class: no truthful answer in this template
                context.copy_image(item, context.out / "images" / item.split)
                line = {"image": f"images/{item.split}/{item.image_filename}", "question": prompt,
                        "answer": answer(item.regions, context.classes), "sha256": item.sha256,
                        "label_source": item.label_source, "width": item.width, "height": item.height}
                split_file(item.split).write(json.dumps(line, ensure_ascii=False) + "\n")
