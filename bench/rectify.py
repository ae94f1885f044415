"""Artifact fixing on the synthetic set: mean PAR before vs after, zoom-in crops vs the naive whole image.

    .venv/bin/python bench/rectify.py                          # synthetic set + 300 CPU iterations of tiny
    .venv/bin/python bench/rectify.py --checkpoint best.pth --data DIR   # an existing model and set
    .venv/bin/python bench/rectify.py --keep /tmp/rectify-bench --json   # keep set + model for reruns

It generates N synthetic 256² images (ml.synthetic; their test split, 10 %, is what gets fixed), trains the
tiny segmenter config on the CPU for --iters unless --checkpoint is given, then for each mode (zoom, whole)
fixes every test image with the OpenCV backend and re-measures PAR with the same segmenter. It prints mean
PAR before and after, the relative change, the share of images whose PAR went down, how much of the
ground-truth artifact area the fixed region covered, and seconds per image (fixing alone, and with the two
segmentations). Only the segmenter judges "after": a fix that fools this model scores as well as one a
person would accept, so read the figures as "what the detector still sees", not as image quality.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def prepare(args, workdir: Path) -> tuple[Path, Path, dict]:
    """(dataset root, checkpoint, training figures): given ones, or generated and trained here."""
    from ml.synthetic import generate_dataset

    data = args.data or workdir / "data"
    if args.data is None:
        if not (data / "images").is_dir():
            log(f"generating {args.n} synthetic images at {args.size}² (seed {args.seed}) ...")
            generate_dataset(data, n=args.n, size=args.size, seed=args.seed)
    if args.checkpoint is not None:
        return data, args.checkpoint, {"checkpoint": str(args.checkpoint)}
    checkpoint = workdir / "train" / "best.pth"
    if checkpoint.is_file():
        log(f"reusing {checkpoint}")
        return data, checkpoint, {"checkpoint": str(checkpoint), "reused": True}
    from ml.segmentation.config import TINY_CONFIG
    from ml.segmentation.train import train

    log(f"training {TINY_CONFIG} for {args.iters} iterations on the CPU ...")
    metrics = train(config=TINY_CONFIG, data=data, work_dir=checkpoint.parent, max_iters=args.iters, device="cpu",
                    seed=args.seed)
    return data, checkpoint, {"config": TINY_CONFIG, "iters": args.iters, "train_seconds": metrics["train_seconds"],
                              "val_artifact_IoU": metrics["val"]["artifact_IoU"]}


def run_mode(predictor, inpainter, images, truths, before, before_seconds: float, *, mode: str, dilate: int) -> dict:
    """Fix every image in one mode; `before` is the segmenter's Predictions on the originals."""
    from ml.rectify import fix_image

    started = time.perf_counter()
    fixes, fix_seconds = [], []
    for image, mask in zip(images, before.masks):
        t = time.perf_counter()
        fixes.append(fix_image(image, mask, inpainter, mode=mode, dilate_px=dilate))
        fix_seconds.append(time.perf_counter() - t)
    after = predictor.predict([f.image for f in fixes])
    total = time.perf_counter() - started
    par_before, par_after = np.array(before.par), np.array(after.par)
    gt_pixels = sum(int(t.sum()) for t in truths)
    covered = sum(int((t & (f.region != 0)).sum()) for t, f in zip(truths, fixes))
    return {
        "mode": mode, "images": len(images),
        "mean_par_before": float(par_before.mean()), "mean_par_after": float(par_after.mean()),
        "relative_change": (float((par_after.mean() - par_before.mean()) / par_before.mean())
                            if par_before.mean() else None),
        "share_improved": float(np.mean(par_after < par_before)),
        "gt_artifact_area_covered": covered / gt_pixels if gt_pixels else None,
        "components_per_image": float(np.mean([f.components for f in fixes])),
        "fix_seconds_per_image": float(np.mean(fix_seconds)),
        # fix + the second segmentation, plus this mode's share of the first one (measured once for both)
        "seconds_per_image": (total + before_seconds) / len(images),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, help="segmenter to use instead of training one")
    parser.add_argument("--data", type=Path, help="PAL4VST-layout root to use instead of generating one")
    parser.add_argument("--n", type=int, default=400, help="synthetic images to generate (10 %% are the test split)")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--iters", type=int, default=300, help="tiny-config CPU training iterations")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--split", default="test")
    parser.add_argument("--limit", type=int, default=40, help="at most this many images of the split")
    parser.add_argument("--backend", default="opencv-telea", help="opencv-telea or opencv-ns")
    parser.add_argument("--working-size", type=int, default=512)
    parser.add_argument("--dilate", type=int, default=8)
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (data, model) for reruns")
    parser.add_argument("--json", action="store_true", help="print only the JSON figures")
    args = parser.parse_args()
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")  # CPU figures, as in bench/segmenter.py `quality`

    workdir = args.keep or Path(tempfile.mkdtemp(prefix="flawmap-bench-rectify-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        from PIL import Image

        from ml.rectify import inpainter_create
        from ml.segmentation.predictor import Predictor, read_image

        data, checkpoint, training = prepare(args, workdir)
        paths = sorted((data / "images" / args.split).glob("*.png"))[: args.limit]
        if not paths:
            log(f"error: no images in {data / 'images' / args.split}")
            return 2
        images = [read_image(p) for p in paths]
        truths = []  # ground-truth masks (all clean where a label is missing)
        for p, image in zip(paths, images):
            label = data / "labels" / args.split / p.name
            truths.append(np.asarray(Image.open(label)) != 0 if label.is_file() else np.zeros(image.shape[:2], bool))
        predictor = Predictor(checkpoint, device="cpu", batch_size=8)
        inpainter = inpainter_create(args.backend, working_size=args.working_size)
        predictor.predict(images[:1])  # warm-up
        t = time.perf_counter()
        before = predictor.predict(images)
        before_seconds = time.perf_counter() - t
        results = []
        for mode in ("zoom", "whole"):
            log(f"fixing {len(images)} images, {mode} mode ({inpainter.name} at {args.working_size}²) ...")
            results.append(run_mode(predictor, inpainter, images, truths, before, before_seconds, mode=mode,
                                    dilate=args.dilate))
        figures = {
            "images": len(images), "split": args.split, "size": args.size, "backend": inpainter.name,
            "working_size": args.working_size, "dilate": args.dilate, "training": training,
            "true_mean_par": float(np.mean([t.mean() for t in truths])),
            "segmentation_seconds_per_image": before_seconds / len(images), "modes": results,
        }
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)

    if not args.json:
        print(f"{len(images)} {args.split} images at {args.size}², {inpainter.name} at {args.working_size}², "
              f"dilate {args.dilate}px; ground-truth mean PAR {figures['true_mean_par']:.4f}")
        print(f"{'mode':6s} {'PAR before':>10s} {'PAR after':>10s} {'change':>8s} {'improved':>9s} "
              f"{'GT covered':>10s} {'s/img fix':>10s} {'s/img all':>10s}")
        for r in results:
            change = "n/a" if r["relative_change"] is None else f"{r['relative_change'] * 100:+.1f}%"
            covered = "n/a" if r["gt_artifact_area_covered"] is None else f"{r['gt_artifact_area_covered'] * 100:.1f}%"
            print(f"{r['mode']:6s} {r['mean_par_before']:10.4f} {r['mean_par_after']:10.4f} {change:>8s} "
                  f"{r['share_improved'] * 100:8.1f}% {covered:>10s} {r['fix_seconds_per_image']:10.3f} "
                  f"{r['seconds_per_image']:10.3f}")
    print(json.dumps(figures, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
