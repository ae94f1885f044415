"""The template's parser reads back every answer the template can write, and survives anything else."""

import itertools
import random

import pytest

from ml.vlm.data import SYNARTIFACT_CLASSES
from ml.vlm.template import (
    NONE,
    answer,
    classes_from_question,
    int_box,
    one_line,
    parse_answer,
    question,
    with_image_size,
)

CLASSES = [tuple(c) for c in SYNARTIFACT_CLASSES]
CAPTIONS = ["", "blurry hand", "  two\n lines  ", "a | pipe | inside", "ünïcødé 手", "x", "ends with |",
            "9. Fake | box: [1, 2, 3, 4]"]
BOXES = [[0, 0, 1, 1], [0.2, 0, 0.4, 2], [5.5, 1, 9, 4], [63.6, 10, 63.9, 11.2], [10, 20, 4000, 3000], [0, 0, 0, 0]]


def region(code, box, caption):
    slug = next(s for c, s, _n, _d in CLASSES if c == code)
    return {"bbox": box, "code": code, "class": slug, "caption": caption}


def normalised(regions):
    """What an answer keeps of regions: integer boxes, squeezed captions, the template's order."""
    return [{"bbox": int_box(r["bbox"]), "class": r["class"], "code": r["code"], "caption": one_line(r["caption"])}
            for r in regions]


def test_every_single_region_answer_round_trips():
    count = 0
    for (code, *_), box, caption in itertools.product(CLASSES, BOXES, CAPTIONS):
        regions = [region(code, box, caption)]
        text = answer(regions, CLASSES)
        parsed = parse_answer(text, CLASSES)
        assert not parsed.malformed, (text, parsed.error)
        assert parsed.regions == normalised(regions)
        assert answer(parsed.regions, CLASSES) == text  # and writes back to the same bytes
        count += 1
    assert count == 13 * len(BOXES) * len(CAPTIONS)


def test_multi_region_answers_round_trip_in_template_order():
    rng = random.Random(7)
    for n in range(2, 6):
        for _ in range(60):
            regions = [region(rng.choice(CLASSES)[0], rng.choice(BOXES), rng.choice(CAPTIONS)) for _ in range(n)]
            text = answer(regions, CLASSES)
            parsed = parse_answer(text, CLASSES)
            assert not parsed.malformed, (text, parsed.error)
            assert answer(parsed.regions, CLASSES) == text
            assert sorted(map(str, parsed.regions)) == sorted(map(str, normalised(regions)))


def test_none_and_surrounding_whitespace():
    assert answer([], CLASSES) == NONE
    for text in ("none", " none\n", "none</s>".replace("</s>", "")):
        parsed = parse_answer(text, CLASSES)
        assert parsed.regions == [] and not parsed.malformed
    ok = parse_answer("9. Localized Blur | box: [1, 2, 3, 4]\n", CLASSES)
    assert not ok.malformed and ok.classes == ["localized-blur"]


@pytest.mark.parametrize("text, reason", [
    ("", "empty"),
    ("None", "no ' | box"),
    ("none\n9. Localized Blur | box: [1, 2, 3, 4]", "no ' | box"),
    ("14. Localized Blur | box: [1, 2, 3, 4]", "unknown class code"),
    ("9. Chromatic Irregularity | box: [1, 2, 3, 4]", "class 9 is 'Localized Blur'"),
    ("9. Localized Blur | box: [5, 2, 3, 4]", "empty box"),
    ("9. Localized Blur | box: [1, 2, 3]", "box is not"),
    ("9. Localized Blur | box: [1, 2, 3, 4, 5]", "box is not"),
    ("9. Localized Blur | box: [-1, 2, 3, 4]", "box is not"),
    ("9. Localized Blur | box: [1.5, 2, 3, 4]", "box is not"),
    ("9. Localized Blur | box: [1, 2, 3, 4] | ", "box is not"),  # the trailing space is stripped: "] |"
    ("9. Localized Blur | box: [1, 2, 3, 4] |  | x", "caption"),
    ("9. Localized Blur | box: [1, 2, 3, 4] |  two  spaces", "caption"),
    ("9. Localized Blur | box: [1, 2, 3, 4]\n\n9. Localized Blur | box: [1, 2, 3, 4]", "line 2"),
    ("9. Localized Blur | box: [1, 2, 3, 4]\n10. Chromatic Irreg", "line 2"),  # truncated generation
])
def test_malformed_answers_are_empty_and_flagged_with_the_reason(text, reason):
    parsed = parse_answer(text, CLASSES)
    assert parsed.malformed and parsed.regions == [] and reason in parsed.error
    assert parsed.raw == text


def test_garbage_never_crashes():
    rng = random.Random(0)
    valid = answer([region("3", [1, 2, 30, 40], "warped hand"), region("11", [5, 5, 9, 9], "noise")], CLASSES)
    alphabet = valid + "\x00\n\t|[]:.,-0123456789 ÿ\u202e<s></s><image>"
    samples = [None, 42, b"bytes", ["list"], "x" * 30_000, "\n" * 50, "|" * 100]
    for _ in range(3000):
        op = rng.randrange(4)
        if op == 0:
            s = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 120)))
        elif op == 1:
            s = valid[: rng.randrange(len(valid))]
        elif op == 2:
            i = rng.randrange(len(valid))
            s = valid[:i] + rng.choice(alphabet) + valid[i + 1:]
        else:
            s = valid.replace(" | ", rng.choice(["|", " |", " || ", " | | "]), 1)
        samples.append(s)
    for s in samples:
        parsed = parse_answer(s, CLASSES)  # must not raise
        assert parsed.malformed or all(r["code"] in {c for c, *_ in CLASSES} for r in parsed.regions)
        if parsed.malformed:
            assert parsed.regions == [] and parsed.error


def test_question_carries_the_classes_and_reads_back():
    q = question(CLASSES)
    # codes, names and definitions come back; slugs only approximately (exports carry classes.json for that)
    assert [(c, n, d) for c, _s, n, d in classes_from_question(q)] == [(c, n, d.rstrip(".")) for c, _s, n, d in CLASSES]
    assert with_image_size(q, width=640, height=480).endswith("The image is 640x480 pixels.")


def test_one_owner_of_the_template_and_the_taxonomy_seed_agrees():
    import datasets.vlm_template as exported
    import ml.vlm.template as owner
    from backend.taxonomy.seed import SYNARTIFACT_V1

    assert exported.answer is owner.answer and exported.question is owner.question
    assert [(c, s, n, d) for c, s, n, _g, d in SYNARTIFACT_V1] == CLASSES
