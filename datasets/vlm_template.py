"""The question-answer template for fine-tuning a VLM on artifact classification (SynArtifact style).

Pure functions, no Django: the exporter, the VLM trainer and its answer parser must all agree on this text,
so it is built in exactly one place and is deterministic (same classes and regions → same bytes).

`classes` is a list of (code, slug, name, definition) tuples, as in `ExportContext.classes`.
`regions` is a list of {"bbox": [x1, y1, x2, y2] (pixels), "class": slug, "code": code, "caption": str}.

Question (one line):

    Which of these artifacts does the image show? Options: 1. Illegible Letters: <definition>; 2. ...;
    13. Impractical Luminosity: <definition>. Answer with one line per artifact in the form
    `<code>. <name> | box: [x1, y1, x2, y2] | <caption>` (box in integer pixel coordinates of the
    image, x to the right, y down, x2 and y2 exclusive), or the single word `none` if the image shows no
    artifacts.

Options are sorted by code (numerically when the code is a number); each definition is squeezed to one
line (runs of whitespace become one space) and loses its final full stop, since options end with ";".

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
"""

import math

QUESTION_LEAD = "Which of these artifacts does the image show?"
NONE = "none"
LINE_FORMAT = "<code>. <name> | box: [x1, y1, x2, y2] | <caption>"


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
