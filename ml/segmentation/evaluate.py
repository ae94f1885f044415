"""Score a checkpoint on one split of a PAL4VST-layout folder.

    python -m ml.segmentation.evaluate --checkpoint CKPT --data DIR [--split test] [--device ...] [--out FILE]

Prints (and with --out writes) JSON: mIoU, artifact_IoU, clean_IoU, aAcc, images, per-task scores.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml.segmentation.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", default="test")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    parser.add_argument("--trust-config", action="store_true",
                        help="build the model from the checkpoint's config even if it is not one shipped in "
                             "ml/segmentation/configs/ (it runs as Python: only for a checkpoint you vouch for)")
    args = parser.parse_args(argv)
    if args.device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""

    from .checkpoint import CheckpointError
    from .evaluation import evaluate_split
    from .predictor import ImageReadError, Predictor

    try:
        predictor = Predictor(args.checkpoint, device=args.device, batch_size=args.batch_size,
                              trust_config=args.trust_config)
        metrics = evaluate_split(predictor, args.data, args.split)
    except (CheckpointError, FileNotFoundError, ImageReadError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    text = json.dumps({"checkpoint": str(args.checkpoint), **metrics}, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
