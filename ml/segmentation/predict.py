"""Predict artifact masks for every image in a folder.

    python -m ml.segmentation.predict --checkpoint CKPT --input DIR --output DIR [--batch-size B] [--probs]
        [--device auto|cpu|cuda]

Writes OUTPUT/NAME.png (0 clean / 255 artifact, the input's size; sub-folders are kept), OUTPUT/par.csv
(`name,par`) and with --probs OUTPUT/probs/NAME.png (artifact probability as uint8, 255 = 1.0).
An unreadable image is reported by name and skipped. Exit status: 0 all predicted, 1 some skipped,
2 nothing predicted or bad arguments.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image

from ml import images


def list_images(folder: Path) -> list[Path]:
    """The images of an input folder, without the probs/ sub-folder this tool writes with --probs."""
    return images.list_images(folder, skip_top=("probs",))


def decoded_batches(
    images: list[Path], input_dir: Path, output_dir: Path, *, batch_size: int, failed: list, log=print
) -> Iterator[list[tuple[str, Path, np.ndarray]]]:
    """Batches of (name, output PNG path, RGB array) for the images of a folder. An unreadable image, or one
    whose output would overwrite another's (a.jpg and a.png), is appended to `failed` as (name, reason),
    logged, and skipped — the folder tools report bad files by name and carry on."""
    from .predictor import ImageReadError, read_image

    taken: set[Path] = set()
    batch: list[tuple[str, Path, np.ndarray]] = []
    for path in images:
        relative = path.relative_to(input_dir)
        name = relative.as_posix()
        target = output_dir / relative.with_suffix(".png")
        if target in taken:
            failed.append((name, f"another image already writes {target.name}"))
            log(f"skipped {name}: another image already writes {target.relative_to(output_dir)}", file=sys.stderr)
            continue
        try:
            array = read_image(path)
        except ImageReadError as exc:
            failed.append((name, str(exc)))
            log(f"skipped {name}: {exc}", file=sys.stderr)
            continue
        taken.add(target)
        batch.append((name, target, array))
        if len(batch) >= batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def predict_folder(predictor, input_dir: Path, output_dir: Path, *, probs: bool = False, log=print) -> dict:
    """Predict every image under input_dir; returns {"predicted": n, "failed": [(name, reason)], "par": {...}}."""
    images = list_images(input_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    failed: list[tuple[str, str]] = []
    pars: dict[str, float] = {}
    for batch in decoded_batches(images, input_dir, output_dir, batch_size=predictor.batch_size, failed=failed,
                                 log=log):
        results = predictor.predict([array for _, _, array in batch])
        for (name, target, _), mask, prob, par in zip(batch, *results):
            target.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(mask * np.uint8(255)).save(target)
            if probs:
                prob_path = output_dir / "probs" / target.relative_to(output_dir)
                prob_path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(np.rint(prob * 255).astype(np.uint8)).save(prob_path)
            pars[name] = par
    with open(output_dir / "par.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["name", "par"])
        for name, par in pars.items():
            writer.writerow([name, f"{par:.6f}"])
    return {"predicted": len(pars), "failed": failed, "par": pars, "images": len(images)}


def add_folder_arguments(parser: argparse.ArgumentParser, *, checkpoint_help: str) -> None:
    """The arguments every folder tool built on the segmenter takes (this one and ml.rectify)."""
    parser.add_argument("--checkpoint", type=Path, required=True, help=checkpoint_help)
    parser.add_argument("--input", type=Path, required=True, help="folder of images (searched recursively)")
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--trust-config", action="store_true",
                        help="build the model from the checkpoint's config even if it is not one shipped in "
                             "ml/segmentation/configs/ (it runs as Python: only for a checkpoint you vouch for)")


def check_folder_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int | None:
    """Exit status 2 (with the reason on stderr) when the input folder is missing; hides CUDA for --device
    cpu before torch is imported. Bad values stop at parser.error (exit status 2 as well)."""
    if args.batch_size < 1:
        parser.error("--batch-size must be at least 1")
    if not args.input.is_dir():
        print(f"error: input folder not found: {args.input}", file=sys.stderr)
        return 2
    if args.device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml.segmentation.predict", description=__doc__.split("\n\n")[0])
    add_folder_arguments(parser, checkpoint_help="our best.pth or PAL4VST's end2end.pt")
    parser.add_argument("--probs", action="store_true", help="also write probability maps under OUTPUT/probs/")
    args = parser.parse_args(argv)
    if (status := check_folder_arguments(parser, args)) is not None:
        return status

    from .checkpoint import CheckpointError
    from .predictor import Predictor

    try:
        predictor = Predictor(args.checkpoint, device=args.device, batch_size=args.batch_size,
                              trust_config=args.trust_config)
        # Asking runs a TorchScript model once (on a blank image) to see what it outputs.
        argmax_only = args.probs and not predictor.gives_probabilities
    except (CheckpointError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if argmax_only:
        print("note: this model gives argmax labels only; probability maps are the share of 4 flipped views "
              "that mark a pixel", file=sys.stderr)
    summary = predict_folder(predictor, args.input, args.output, probs=args.probs, log=print)
    print(f"predicted {summary['predicted']} of {summary['images']} image(s) -> {args.output} "
          f"({len(summary['failed'])} skipped)")
    if summary["predicted"] == 0:
        print(f"error: nothing could be predicted in {args.input}", file=sys.stderr)
        return 2
    return 1 if summary["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
