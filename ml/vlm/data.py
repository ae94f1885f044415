"""Reading a `vlm-jsonl` export: its classes and its (image, question, answer) examples.

Layout (datasets/exporters/vlm_jsonl.py): `{split}.jsonl` with one line per image — image (relative path),
question, answer, sha256, label_source, width, height — `images/{split}/NAME` and `classes.json`
([[code, slug, name, definition], ...]). Exports made before `classes.json` existed still work: the
classes are read back from the question.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ml.vlm.template import classes_from_question

# SynArtifact's 13 classes as (code, slug, name, definition); the taxonomy's version 1 seed
# (backend/taxonomy/seed.py, which ml/ can't import) — a test keeps the two equal.
SYNARTIFACT_CLASSES = [
    ("1", "illegible-letters", "Illegible Letters", "Text or letters that are garbled, malformed or unreadable."),
    ("2", "awkward-facial-expression", "Awkward Facial Expression",
     "A face whose expression or features look unnatural, asymmetric or distorted."),
    ("3", "distorted-deformed-components", "Distorted and Deformed Components",
     "A part of an object or body (hand, limb, wheel) that is warped, melted or wrongly shaped."),
    ("4", "duplicated-components", "Duplicated Components",
     "A part that appears more often than it should, e.g. extra fingers, limbs or eyes."),
    ("5", "omitted-components", "Omitted Components",
     "A part that should be there but is missing, e.g. a missing finger, leg or handle."),
    ("6", "abnormal-spatial-relationship", "Abnormal Spatial Relationship",
     "Objects placed, scaled or overlapping in physically implausible ways."),
    ("7", "abnormal-non-spatial-relationship", "Abnormal Non-Spatial Relationship",
     "Objects interacting in implausible non-spatial ways, e.g. wrong use or impossible merging."),
    ("8", "unrealistic-lighting", "Unrealistic Lighting",
     "Light sources, highlights or reflections that cannot exist in the scene."),
    ("9", "localized-blur", "Localized Blur", "A region that is blurry or smeared while its surroundings are sharp."),
    ("10", "chromatic-irregularity", "Chromatic Irregularity",
     "Colour that is wrong for the region: colour bleeding, banding or unnatural hues."),
    ("11", "abnormal-texture", "Abnormal Texture",
     "A surface texture that is noisy, repetitive, smeared or does not fit the material."),
    ("12", "luminance-discrepancy", "Luminance Discrepancy",
     "Brightness that is inconsistent between regions, e.g. shadows that do not match the light."),
    ("13", "impractical-luminosity", "Impractical Luminosity",
     "Glow or luminosity that is physically impractical, e.g. objects emitting light they cannot."),
]
CLASSES_FILE = "classes.json"


@dataclass(frozen=True)
class Example:
    image: Path
    question: str
    answer: str
    width: int
    height: int
    sha256: str = ""


def load_classes(path: Path | None) -> list[tuple[str, str, str, str]]:
    """Classes from a classes.json, an export folder, or a model folder; SynArtifact's 13 when None."""
    if path is None:
        return [tuple(c) for c in SYNARTIFACT_CLASSES]
    path = Path(path)
    if path.is_dir():
        if (path / CLASSES_FILE).is_file():
            path = path / CLASSES_FILE
        else:
            for split in ("train", "val", "test"):
                jsonl = path / f"{split}.jsonl"
                first = jsonl.read_text(encoding="utf-8").split("\n", 1)[0] if jsonl.is_file() else ""
                if first:
                    return classes_from_question(json.loads(first)["question"])
            raise FileNotFoundError(f"{path} has neither {CLASSES_FILE} nor a non-empty split to read classes from")
    return [tuple(str(v) for v in c) for c in json.loads(path.read_text(encoding="utf-8"))]


def write_classes(path: Path, classes) -> None:
    Path(path).write_text(json.dumps([list(c) for c in classes], indent=1, ensure_ascii=False) + "\n",
                          encoding="utf-8")


def load_split(root: Path, split: str) -> list[Example]:
    """The examples of one split (an empty list when the split has no file or no lines)."""
    root = Path(root)
    path = root / f"{split}.jsonl"
    if not path.is_file():
        return []
    examples = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
            examples.append(Example(image=root / line["image"], question=line["question"], answer=line["answer"],
                                    width=int(line["width"]), height=int(line["height"]),
                                    sha256=line.get("sha256", "")))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: not a vlm-jsonl line ({exc})") from exc
    return examples
