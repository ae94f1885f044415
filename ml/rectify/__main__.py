"""Fix the artifacts the segmenter finds in every image of a folder.

    python -m ml.rectify --checkpoint SEG --input DIR --output DIR [--mode zoom|whole]
        [--backend opencv-telea|opencv-ns|diffusers-sd] [--dilate PX] [--working-size S]
        [--inpaint-model DIR] [--prompt TEXT] [--device auto|cpu|cuda] [--batch-size B]

Writes OUTPUT/NAME.png (the fixed image, the input's size; sub-folders are kept) and OUTPUT/rectify.csv
(`name,par_before,par_after,components,seconds`): PAR as the same segmenter measures it before and after
fixing, and the seconds fixing took. An image without predicted artifacts is copied unchanged (as PNG).
An unreadable image is reported by name and skipped. Exit status (as ml.segmentation.predict): 0 all
fixed, 1 some skipped, 2 nothing fixed or bad arguments.
diffusers-sd needs a local model folder (--inpaint-model, default $FLAWMAP_DIFFUSERS_INPAINT_MODEL) and
the diffusers package; nothing is ever downloaded.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from ml.segmentation.predict import add_folder_arguments, check_folder_arguments

from .fix import DEFAULT_DILATE, DEFAULT_MIN_SIDE, MODES
from .inpainters import DEFAULT_BACKEND, DEFAULT_WORKING_SIZE, InpainterUnavailable, inpainter_create


def rectify_folder(predictor, inpainter, input_dir: Path, output_dir: Path, *, mode: str, dilate_px: int,
                   min_side: int = DEFAULT_MIN_SIDE, log=print) -> dict:
    """Fix every image under input_dir; returns {"fixed": n, "images": n, "failed": [(name, reason)], "rows": [...]}."""
    from ml.segmentation.predict import decoded_batches, list_images

    from .pipeline import rectify_images

    images = list_images(input_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    failed: list[tuple[str, str]] = []
    rows: list[dict] = []
    for batch in decoded_batches(images, input_dir, output_dir, batch_size=predictor.batch_size, failed=failed,
                                 log=log):
        results = rectify_images(predictor, [array for _, _, array in batch], inpainter, mode=mode,
                                 dilate_px=dilate_px, min_side=min_side)
        for (name, target, _), result in zip(batch, results):
            target.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(result.fixed).save(target)
            rows.append({"name": name, "par_before": result.par_before, "par_after": result.par_after,
                         "components": result.fix.components,
                         "seconds": result.seconds})
    with open(output_dir / "rectify.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["name", "par_before", "par_after", "components", "seconds"])
        for row in rows:
            writer.writerow([row["name"], f"{row['par_before']:.6f}", f"{row['par_after']:.6f}", row["components"],
                             f"{row['seconds']:.4f}"])
    return {"fixed": len(rows), "images": len(images), "failed": failed, "rows": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml.rectify", description=__doc__.split("\n\n")[0])
    add_folder_arguments(parser, checkpoint_help="segmenter: our best.pth or PAL4VST's end2end.pt")
    parser.add_argument("--mode", choices=MODES, default="zoom",
                        help="zoom: a crop per artifact (default); whole: the naive whole-image baseline")
    parser.add_argument("--backend", default=DEFAULT_BACKEND, help="opencv-telea (default), opencv-ns, diffusers-sd")
    parser.add_argument("--dilate", type=int, default=DEFAULT_DILATE,
                        help=f"mask dilation in pixels (default {DEFAULT_DILATE})")
    parser.add_argument("--working-size", type=int, default=DEFAULT_WORKING_SIZE,
                        help=f"inpainter's square input side (default {DEFAULT_WORKING_SIZE})")
    parser.add_argument("--inpaint-model", default=os.environ.get("FLAWMAP_DIFFUSERS_INPAINT_MODEL") or None,
                        help="local diffusers inpainting model folder (diffusers-sd only)")
    parser.add_argument("--prompt", default="", help="text prompt for diffusers-sd")
    args = parser.parse_args(argv)
    if args.dilate < 0 or args.working_size < 8:
        parser.error("--dilate must be >= 0 and --working-size >= 8")
    if (status := check_folder_arguments(parser, args)) is not None:
        return status

    from ml.segmentation.checkpoint import CheckpointError
    from ml.segmentation.predictor import Predictor

    try:
        inpainter = inpainter_create(args.backend, working_size=args.working_size, model_path=args.inpaint_model,
                                     device=args.device, prompt=args.prompt)
        predictor = Predictor(args.checkpoint, device=args.device, batch_size=args.batch_size,
                              trust_config=args.trust_config)
    except (InpainterUnavailable, CheckpointError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    summary = rectify_folder(predictor, inpainter, args.input, args.output, mode=args.mode, dilate_px=args.dilate)
    rows = summary["rows"]
    if rows:
        before = float(np.mean([r["par_before"] for r in rows]))
        after = float(np.mean([r["par_after"] for r in rows]))
        print(f"fixed {summary['fixed']} of {summary['images']} image(s) -> {args.output} "
              f"({len(summary['failed'])} skipped); mean PAR {before:.4f} -> {after:.4f} "
              f"({inpainter.name}, {args.mode})")
    if summary["fixed"] == 0:
        print(f"error: nothing could be fixed in {args.input}", file=sys.stderr)
        return 2
    return 1 if summary["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
