"""Score a fine-tuned VLM against its un-tuned base on the same split (SynArtifact's comparison).

    python -m ml.vlm.evaluate --model DIR --data EXPORT_DIR [--split test] [--base MODEL] [--no-base]
        [--batch-size 8] [--max-new-tokens 192] [--json OUT.json]

Prints a table (rows: exact-match accuracy, macro F1, malformed answers, box IoU of matched artifacts, box
recall at IoU 0.5, then per class P/R/F1) with a column for the base, one for the tuned model and their
difference; `--json` writes both reports. Metrics: ml/vlm/metrics.py.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ml.vlm.data import load_split
from ml.vlm.metrics import image_class_counts, score
from ml.vlm.model import ModelLoadError, load_tuned, load_untuned
from ml.vlm.predictor import VlmPredictor
from ml.vlm.template import parse_answer


def evaluate_loaded(loaded, examples, *, batch_size: int = 8, max_new_tokens: int = 192) -> dict:
    predictor = VlmPredictor(loaded, batch_size=batch_size, max_new_tokens=max_new_tokens)
    preds = predictor.predict([ex.image for ex in examples])
    refs = []
    for ex in examples:
        parsed = parse_answer(ex.answer, loaded.classes)
        if parsed.malformed:
            raise ValueError(f"reference answer of {ex.image} does not follow the template: {parsed.error}")
        refs.append(parsed.regions)
    answers = [{"regions": p.regions, "malformed": p.malformed} for p in preds]
    report = score(answers, refs, loaded.classes)
    report["items"] = [{"image": str(ex.image), "classes": image_class_counts(a, r)}
                       for ex, a, r in zip(examples, answers, refs)]
    report["examples"] = [{"image": str(ex.image), "answer": p.raw, "malformed": p.malformed, "error": p.error}
                          for ex, p in zip(examples[:5], preds[:5])]
    return report


def evaluate(*, model_dir: Path, data: Path, split: str = "test", base: str | None = None, with_base: bool = True,
             batch_size: int = 8, max_new_tokens: int = 192, device: str = "auto") -> dict:
    examples = load_split(data, split)
    if not examples:
        raise ValueError(f"{data}/{split}.jsonl has no examples")
    tuned = load_tuned(model_dir, base=base, device=device)
    result = {"split": split, "images": len(examples), "base_model": tuned.base,
              "tuned": evaluate_loaded(tuned, examples, batch_size=batch_size, max_new_tokens=max_new_tokens)}
    if with_base:
        untuned = load_untuned(tuned.base, tuned.classes, device=device)
        result["base"] = evaluate_loaded(untuned, examples, batch_size=batch_size, max_new_tokens=max_new_tokens)
    return result


def comparison_table(result: dict) -> str:
    tuned, base = result["tuned"], result.get("base")
    rows = [("exact-match accuracy", "exact_match"), ("macro F1", "macro_f1"), ("malformed answers", "malformed"),
            ("box IoU (matched)", "box_iou_matched"), ("box recall @ IoU 0.5", "box_recall_at_0.5")]
    lines = [f"{'metric':<34} {'base':>8} {'tuned':>8} {'delta':>8}", "-" * 61]

    def row(label, t, b):
        b_txt = f"{b:8.3f}" if b is not None else f"{'-':>8}"
        d_txt = f"{t - b:+8.3f}" if b is not None else f"{'-':>8}"
        lines.append(f"{label:<34} {b_txt} {t:8.3f} {d_txt}")

    for label, key in rows:
        row(label, tuned[key], base[key] if base else None)
    classes = dict(tuned["per_class"])
    for slug, v in (base or {}).get("per_class", {}).items():
        classes.setdefault(slug, v)
    for slug, v in classes.items():
        t = tuned["per_class"].get(slug, {"precision": 0.0, "recall": 0.0, "f1": 0.0})
        b = base["per_class"].get(slug, {"precision": 0.0, "recall": 0.0, "f1": 0.0}) if base else None
        for metric in ("precision", "recall", "f1"):
            label = f"{v['code']:>2}. {v['name'][:22]} {metric[0].upper()}" if metric != "f1" else \
                f"{v['code']:>2}. {v['name'][:22]} F1"
            row(label, t[metric], b[metric] if b else None)
    head = f"{result['split']} split, {result['images']} images; base {result['base_model']}"
    return head + "\n" + "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml.vlm.evaluate", description="Tuned vs base on one split.")
    parser.add_argument("--model", type=Path, required=True, help="folder written by ml.vlm.train")
    parser.add_argument("--data", type=Path, required=True, help="vlm-jsonl export folder")
    parser.add_argument("--split", default="test")
    parser.add_argument("--base", default=None, help="override the base recorded with the model")
    parser.add_argument("--no-base", action="store_true", help="score the tuned model only")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=192)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    try:
        result = evaluate(model_dir=args.model, data=args.data, split=args.split, base=args.base,
                          with_base=not args.no_base, batch_size=args.batch_size, max_new_tokens=args.max_new_tokens,
                          device=args.device)
    except (ModelLoadError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(comparison_table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
