"""Evaluation prints the base-vs-tuned table on demo data; predict writes one line per image."""

import json

from ml.vlm.metrics import box_iou, score
from tests.vlm_support import CONSTANT_ANSWER


def test_evaluate_runs_end_to_end_on_the_demo_export(tiny_vlm_tuned, vlm_demo_export, tmp_path, capsys):
    from ml.vlm.evaluate import main

    report = tmp_path / "eval.json"
    code = main(["--model", str(tiny_vlm_tuned[0]), "--data", str(vlm_demo_export), "--split", "test",
                 "--max-new-tokens", "48", "--device", "cpu", "--json", str(report)])
    assert code == 0
    table = capsys.readouterr().out
    assert "base" in table and "tuned" in table and "delta" in table
    for row in ("exact-match accuracy", "macro F1", "malformed answers", "box IoU (matched)"):
        assert row in table
    result = json.loads(report.read_text())
    assert result["images"] == len((vlm_demo_export / "test.jsonl").read_text().splitlines())
    # the random base can't follow the template; the tuned model (taught one fixed line) always does
    assert result["base"]["malformed"] == 1.0 and result["tuned"]["malformed"] == 0.0


def test_predict_cli_names_and_skips_a_bad_image(tiny_vlm_tuned, constant_export, tmp_path, capsys):
    from ml.vlm.predict import main

    inputs = tmp_path / "in"
    inputs.mkdir()
    for src in sorted((constant_export / "images" / "train").glob("*.png"))[:2]:
        (inputs / src.name).write_bytes(src.read_bytes())
    (inputs / "broken.png").write_bytes(b"not a png")
    out = tmp_path / "preds.jsonl"
    code = main(["--model", str(tiny_vlm_tuned[0]), "--input", str(inputs), "--output", str(out),
                 "--max-new-tokens", "48", "--device", "cpu"])
    assert code == 1
    assert "broken.png" in capsys.readouterr().err
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 2 and all(line["raw"].strip() == CONSTANT_ANSWER for line in lines)


def test_scores_count_classes_per_image_and_iou_of_matched_boxes():
    classes = [("9", "blur", "Blur", ""), ("10", "hue", "Hue", "")]
    ref = [[{"class": "blur", "bbox": [0, 0, 10, 10]}], [], [{"class": "hue", "bbox": [0, 0, 4, 4]}]]
    pred = [{"regions": [{"class": "blur", "bbox": [0, 0, 10, 5]}], "malformed": False},
            {"regions": [], "malformed": True},  # malformed on a clean image is still wrong
            {"regions": [{"class": "blur", "bbox": [0, 0, 4, 4]}], "malformed": False}]
    s = score(pred, ref, classes)
    assert s["exact_match"] == 1 / 3 and s["malformed"] == 1 / 3
    assert s["per_class"]["blur"] == {"code": "9", "name": "Blur", "precision": 0.5, "recall": 1.0,
                                      "f1": 2 / 3, "support": 1}
    assert s["per_class"]["hue"]["recall"] == 0.0
    assert s["box_iou_matched"] == box_iou([0, 0, 10, 5], [0, 0, 10, 10]) == 0.5
    assert s["box_recall_at_0.5"] == 0.5
