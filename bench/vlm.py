"""VLM classifier figures on the tiny offline model: LoRA training steps/s and inference images/s.

    .venv/bin/python bench/vlm.py                  # CPU figures (and GPU ones when CUDA is present)
    .venv/bin/python bench/vlm.py --steps 40 --images 32 --batch-size 8 --json

Builds the tiny random-weight LLaVA (ml/vlm/tiny.py) and a demo vlm-jsonl export (ml/vlm/demo_data.py) in
a temporary folder, then times (after warm-up) LoRA training steps at --batch-size and greedy generation of
--max-new-tokens tokens over --images images in batches. These are plumbing figures for the tiny model,
not a real VLM's: they show the overhead of the path (processor, padding, parse), not model quality.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def measure(device: str, *, work: Path, steps: int, images: int, batch_size: int, max_new_tokens: int) -> dict:
    from ml.vlm.model import load_tuned
    from ml.vlm.predictor import VlmPredictor
    from ml.vlm.train import train

    data, base = work / "data", work / "base"
    warm = train(data=data, base=str(base), out=work / f"warm-{device}", max_steps=2, batch_size=batch_size,
                 lr=5e-3, device=device)
    run = train(data=data, base=str(base), out=work / f"run-{device}", max_steps=steps, batch_size=batch_size,
                lr=5e-3, device=device)
    predictor = VlmPredictor(load_tuned(work / f"run-{device}", device=device), batch_size=batch_size,
                             max_new_tokens=max_new_tokens)
    pictures = sorted((data / "images").rglob("*.png"))
    pictures = (pictures * (images // max(1, len(pictures)) + 1))[:images]
    predictor.predict(pictures[:batch_size])  # warm-up
    start = time.perf_counter()
    predictions = predictor.predict(pictures)
    seconds = time.perf_counter() - start
    del warm
    return {"device": device, "train_steps_per_s": run["steps_per_second"], "train_batch_size": batch_size,
            "train_loss_first": round(run["first_loss"], 3), "train_loss_last": round(run["last_loss"], 3),
            "inference_images_per_s": round(len(pictures) / seconds, 2), "inference_batch_size": batch_size,
            "max_new_tokens": max_new_tokens,
            "malformed_share": round(sum(p.malformed for p in predictions) / len(predictions), 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    import torch

    from ml.vlm.data import SYNARTIFACT_CLASSES
    from ml.vlm.demo_data import generate_vlm_demo
    from ml.vlm.tiny import build_tiny_vlm

    with tempfile.TemporaryDirectory(prefix="flawmap-bench-vlm-") as tmp:
        work = Path(tmp)
        generate_vlm_demo(work / "data", n=24, size=64, seed=0)
        build_tiny_vlm(work / "base", SYNARTIFACT_CLASSES, image_size=64, seed=0)
        kwargs = {"work": work, "steps": args.steps, "images": args.images, "batch_size": args.batch_size,
                  "max_new_tokens": args.max_new_tokens}
        rows = [measure("cpu", **kwargs)]
        if torch.cuda.is_available():
            rows.append(measure("cuda", **kwargs))
    load = os.getloadavg()[0]
    if args.json:
        print(json.dumps({"rows": rows, "cpu_threads": torch.get_num_threads(), "load_average_1m": load,
                          "cuda": torch.cuda.is_available()}, indent=2))
        return 0
    print(f"tiny VLM (LLaVA: CLIP 2x48 + Llama 2x96, 64² images), torch threads {torch.get_num_threads()}, "
          f"load average {load:.2f}")
    print(f"{'device':<8} {'train steps/s':>14} {'(batch)':>8} {'loss first→last':>18} {'infer img/s':>12} "
          f"{'(batch)':>8} {'max tokens':>11}")
    for r in rows:
        print(f"{r['device']:<8} {r['train_steps_per_s']:>14.2f} {r['train_batch_size']:>8} "
              f"{r['train_loss_first']:>8.3f} → {r['train_loss_last']:<7.3f} {r['inference_images_per_s']:>12.2f} "
              f"{r['inference_batch_size']:>8} {r['max_new_tokens']:>11}")
    if not torch.cuda.is_available():
        print("gpu      GPU figures need CUDA (none here): run this again on a machine with a GPU.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
