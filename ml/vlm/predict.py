"""Classify the artifacts of images with a fine-tuned VLM (or an un-tuned base).

    python -m ml.vlm.predict --model DIR --input IMG_OR_DIR [--output preds.jsonl] [--base MODEL]
        [--batch-size 8] [--max-new-tokens 192]
    python -m ml.vlm.predict --base MODEL --input ...        # the base alone, SynArtifact's 13 classes

One JSON line per image: {"image", "regions": [{"bbox", "class", "code", "caption"}], "malformed", "error",
"raw"}. An unreadable image is named and skipped. Exit status: 0 all predicted, 1 some skipped, 2 none.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ml.images import list_images
from ml.vlm.data import load_classes
from ml.vlm.model import ModelLoadError, load_tuned, load_untuned
from ml.vlm.predictor import ImageReadError, VlmPredictor, as_rgb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml.vlm.predict", description="VLM artifact classification.")
    parser.add_argument("--model", type=Path, default=None, help="folder written by ml.vlm.train")
    parser.add_argument("--base", default=None, help="base VLM (default: the one the model was trained on)")
    parser.add_argument("--input", type=Path, required=True)
    parser.add_argument("--output", type=Path, default=None, help="JSON lines file (default stdout)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=192)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    if args.model is None and not args.base:
        parser.error("give --model, --base or both")
    try:
        loaded = (load_tuned(args.model, base=args.base, device=args.device) if args.model
                  else load_untuned(args.base, load_classes(None), device=args.device))
    except ModelLoadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    paths, images, skipped = [], [], 0
    for i, path in enumerate(list_images(args.input)):
        try:
            images.append(as_rgb(path, index=i))
            paths.append(path)
        except ImageReadError as exc:
            print(f"skipped {path}: {exc}", file=sys.stderr)
            skipped += 1
    if not images:
        print("error: no readable image", file=sys.stderr)
        return 2
    predictions = VlmPredictor(loaded, batch_size=args.batch_size, max_new_tokens=args.max_new_tokens).predict(images)
    out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout
    try:
        for path, p in zip(paths, predictions):
            out.write(json.dumps({"image": str(path), "regions": p.regions, "malformed": p.malformed,
                                  "error": p.error, "raw": p.raw}, ensure_ascii=False) + "\n")
    finally:
        if out is not sys.stdout:
            out.close()
    return 1 if skipped else 0


if __name__ == "__main__":
    sys.exit(main())
