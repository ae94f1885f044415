"""The question-answer template of the VLM artifact classifier (SynArtifact style), and its strict parser.

The one owner of this text: the `vlm-jsonl` exporter (via `datasets.vlm_template`, which re-exports this
module), the trainer, the evaluator, the predictor and the reward service all use these functions, so what
a model is taught and what is read back from it can't drift apart. Pure functions, no Django, no torch.

`classes` is a list of (code, slug, name, definition) tuples (the taxonomy's classes, `classes.json` of an
export). `regions` is a list of {"bbox": [x1, y1, x2, y2] (pixels), "class": slug, "code": code,
"caption": str}.

Question (one line):

    Which of these artifacts does the image show? Options: 1. Illegible Letters: <definition>; 2. ...;
    13. Impractical Luminosity: <definition>. Answer with one line per artifact in the form
    `<code>. <name> | box: [x1, y1, x2, y2] | <caption>` (box in integer pixel coordinates of the
    image, x to the right, y down, x2 and y2 exclusive), or the single word `none` if the image shows no
    artifacts.

Options are sorted by code (numerically when the code is a number); each definition is squeezed to one
line (runs of whitespace become one space) and loses its final full stop, since options end with ";".
A model sees the image resized, so the trainer and predictor append the image's size to the question
(`with_image_size`): pixel coordinates are meaningless without it.

Answer grammar (lines joined by "\\n", no trailing newline):

    answer := "none" | line ("\\n" line)*
    line   := CODE ". " NAME " | box: [" X1 ", " Y1 ", " X2 ", " Y2 "]" [" | " CAPTION]

- CODE and NAME are the class's code and name; X1..Y2 are the box rounded half up to integers
  (a box that rounds to nothing grows by 1 px towards the origin; see `int_box`).
- CAPTION is the region caption with runs of whitespace (newlines included) squeezed to one space and
  stripped; when it is empty, the " | " and caption are left out. A caption may itself contain "|", so a
  parser splits a line on " | " at most twice.
- Lines are sorted by (code, x1, y1, x2, y2, caption), code numerically when it is a number.
- "none" means the label has no classified regions. (The exporter leaves out images whose artifacts are
  painted but not boxed/classified, so "none" in the training data always means a clean image.)

`parse_answer` reads a model's output back. It is strict, because a half-understood answer is worse than
none for pre-labels and rewards: any line that does not follow the grammar exactly (unknown code, a name
that is not that code's name, a degenerate box, trailing junk, a truncated generation) makes the whole
prediction empty and flagged `malformed`, with the reason. It never raises.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

QUESTION_LEAD = "Which of these artifacts does the image show?"
NONE = "none"
LINE_FORMAT = "<code>. <name> | box: [x1, y1, x2, y2] | <caption>"
# Longest answer the parser reads (characters); a model babbling past it is malformed, not slow.
MAX_ANSWER_CHARS = 20_000


def one_line(text: str) -> str:
    return " ".join((text or "").split())


def code_key(code: str) -> tuple:
    """Numeric codes sort as numbers and before any non-numeric ones."""
    code = str(code)
    return (0, int(code), "") if code.isdigit() else (1, 0, code)


def int_box(bbox) -> list[int]:
    """Pixel box → integers, rounded half up, at least 1 px wide and tall.

    A box that rounds to nothing grows towards the origin ([63.6, 63.9] → [63, 64]), so a box inside the
    image stays inside it without knowing the image size.
    """
    x1, y1, x2, y2 = (math.floor(float(v) + 0.5) for v in bbox)
    if x2 <= x1:
        x1, x2 = (x2 - 1, x2) if x2 >= 1 else (x1, x1 + 1)
    if y2 <= y1:
        y1, y2 = (y2 - 1, y2) if y2 >= 1 else (y1, y1 + 1)
    return [x1, y1, x2, y2]


def question(classes) -> str:
    options = "; ".join(
        f"{code}. {one_line(name)}: {one_line(definition).rstrip('.')}"
        for code, _slug, name, definition in sorted(classes, key=lambda c: code_key(c[0]))
    )
    return (
        f"{QUESTION_LEAD} Options: {options}. Answer with one line per artifact in the form `{LINE_FORMAT}` "
        "(box in integer pixel coordinates of the image, x to the right, y down, x2 and y2 exclusive), "
        f"or the single word `{NONE}` if the image shows no artifacts."
    )


def with_image_size(text: str, *, width: int, height: int) -> str:
    """The question as the model gets it: the exported question plus the image's size."""
    return f"{text} The image is {int(width)}x{int(height)} pixels."


def _name(region: dict, classes) -> str:
    by_code = {str(code): name for code, _slug, name, _d in classes}
    by_slug = {slug: name for _code, slug, name, _d in classes}
    return one_line(by_code.get(str(region.get("code"))) or by_slug.get(region.get("class")) or region.get("class", ""))


def answer_line(region: dict, classes) -> str:
    x1, y1, x2, y2 = int_box(region["bbox"])
    line = f"{region['code']}. {_name(region, classes)} | box: [{x1}, {y1}, {x2}, {y2}]"
    caption = one_line(region.get("caption", ""))
    return f"{line} | {caption}" if caption else line


def _sort_key(region: dict) -> tuple:
    return (code_key(region["code"]), *int_box(region["bbox"]), one_line(region.get("caption", "")))


def answer(regions, classes) -> str:
    if not regions:
        return NONE
    return "\n".join(answer_line(r, classes) for r in sorted(regions, key=_sort_key))


# --------------------------------------------------------------------------- parsing model outputs

_HEAD = re.compile(r"(?P<code>[^\s.|][^\s|]*?)\. (?P<name>[^|]*[^\s|])")
_BOX = re.compile(r"box: \[(\d{1,7}), (\d{1,7}), (\d{1,7}), (\d{1,7})\]")


@dataclass(frozen=True)
class ParsedAnswer:
    """What a model said: regions in the template's dict shape, or nothing and `malformed` with a reason."""

    regions: list[dict] = field(default_factory=list)
    malformed: bool = False
    error: str = ""
    raw: str = ""

    @property
    def classes(self) -> list[str]:
        """Slugs of the predicted classes, each once, in answer order."""
        return list(dict.fromkeys(r["class"] for r in self.regions))


def _malformed(raw: str, error: str) -> ParsedAnswer:
    return ParsedAnswer(regions=[], malformed=True, error=error, raw=raw)


def _parse_line(line: str, by_code: dict) -> dict | str:
    """One answer line → region dict, or the reason it is not one."""
    parts = line.split(" | ", 2)
    if len(parts) < 2:
        return "no ' | box: [...]' part"
    head, box = _HEAD.fullmatch(parts[0]), _BOX.fullmatch(parts[1])
    if head is None:
        return "does not start with '<code>. <name>'"
    code = head["code"]
    if code not in by_code:
        return f"unknown class code {code!r}"
    slug, name = by_code[code]
    if head["name"] != name:
        return f"class {code} is {name!r}, not {head['name']!r}"
    if box is None:
        return "box is not '[x1, y1, x2, y2]' with integers"
    x1, y1, x2, y2 = (int(v) for v in box.groups())
    if x2 <= x1 or y2 <= y1:
        return f"empty box [{x1}, {y1}, {x2}, {y2}]"
    caption = parts[2] if len(parts) == 3 else ""
    if len(parts) == 3 and (not caption or caption != one_line(caption)):
        return "caption is empty or not one squeezed line"
    return {"bbox": [x1, y1, x2, y2], "class": slug, "code": code, "caption": caption}


def parse_answer(text, classes) -> ParsedAnswer:
    """A model's answer → ParsedAnswer. Never raises; see the module docstring for what is accepted.

    Surrounding whitespace is forgiven (generation often ends with a newline); anything else is not.
    """
    try:
        raw = text if isinstance(text, str) else ""
        if not isinstance(text, str):
            return _malformed(raw, f"answer is {type(text).__name__}, not text")
        if len(text) > MAX_ANSWER_CHARS:
            return _malformed(raw, f"answer longer than {MAX_ANSWER_CHARS} characters")
        body = text.strip()
        if body == NONE:
            return ParsedAnswer(raw=raw)
        if not body:
            return _malformed(raw, "empty answer")
        by_code = {str(code): (slug, one_line(name)) for code, slug, name, _d in classes}
        regions = []
        for number, line in enumerate(body.split("\n"), start=1):
            parsed = _parse_line(line, by_code)
            if isinstance(parsed, str):
                return _malformed(raw, f"line {number}: {parsed}")
            regions.append(parsed)
        return ParsedAnswer(regions=regions, raw=raw)
    except Exception as exc:  # a parser bug must not take a reward batch down; it shows as a flagged answer
        return _malformed(text if isinstance(text, str) else "", f"parser error: {exc!r}")


def classes_from_question(text: str) -> list[tuple[str, str, str, str]]:
    """(code, slug, name, definition) read back from a question (exports older than `classes.json`)."""
    options = text.split(" Options: ", 1)[1].split(". Answer with one line per artifact", 1)[0]
    found = []
    for option in options.split("; "):
        head, _, definition = option.partition(": ")
        code, _, name = head.partition(". ")
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        found.append((code, slug, name, definition))
    return found
