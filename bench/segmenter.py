"""Segmenter figures: inference speed (CPU, and GPU when present) and what the tiny config learns in 10 CPU-minutes.

    .venv/bin/python bench/segmenter.py speed      # CPU ms/image at 512², tiny and paper config; GPU figures too
    .venv/bin/python bench/segmenter.py quality    # train tiny on a fresh synthetic set, IoU on its test split
    .venv/bin/python bench/segmenter.py all --json

`speed` times the model forward the Predictor runs (normalised batch in, artifact probability out), after
warm-up, median over repeats. On a GPU it adds the paper config's batch-16 inference ms/image (fp16 autocast,
target ≤ 10 ms on an H100) and training iterations/s at batch 8 @512² (fp32 and fp16 autocast).
`quality` generates N synthetic images (ml.synthetic, seed --seed), trains the tiny config for --iters on the
CPU, and prints the wall time and the test-split IoU. Target: ≥ 0.40 artifact IoU within 10 minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def build_model(config: str, device):
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules

    from ml.segmentation import components  # noqa: F401
    from ml.segmentation.config import load_config

    register_all_modules(init_default_scope=True)
    cfg = load_config(config)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model.to(device), cfg


def time_forward(model, batch, repeats: int, warmup: int, *, autocast: bool = False) -> float:
    """Median seconds of one forward of `batch` (eval mode, no grad)."""
    import torch

    model.eval()
    metas = [dict(img_shape=batch.shape[2:], ori_shape=batch.shape[2:], pad_shape=batch.shape[2:])] * batch.shape[0]
    sync = torch.cuda.synchronize if batch.is_cuda else (lambda: None)
    times = []
    with torch.inference_mode(), torch.autocast(batch.device.type, dtype=torch.float16, enabled=autocast):
        for i in range(warmup + repeats):
            sync()
            start = time.perf_counter()
            model.encode_decode(batch, metas).softmax(1)
            sync()
            if i >= warmup:
                times.append(time.perf_counter() - start)
    return statistics.median(times)


def time_training(model, batch_size: int, size: int, iters: int, warmup: int, *, autocast: bool) -> float:
    """Training iterations per second (forward + loss + backward + AdamW step) on random data."""
    import torch
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    device = next(model.parameters()).device
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01)
    scaler = torch.amp.GradScaler(enabled=autocast)
    inputs = torch.randn(batch_size, 3, size, size, device=device)
    samples = []
    for _ in range(batch_size):
        sample = SegDataSample()
        sample.gt_sem_seg = PixelData(data=torch.randint(0, 2, (1, size, size), device=device))
        sample.set_metainfo(dict(img_shape=(size, size), ori_shape=(size, size), pad_shape=(size, size)))
        samples.append(sample)
    elapsed = 0.0
    for i in range(warmup + iters):
        torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.float16, enabled=autocast):
            losses = model.loss(inputs, samples)
            loss = sum(v for k, v in losses.items() if "loss" in k)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        torch.cuda.synchronize()
        if i >= warmup:
            elapsed += time.perf_counter() - start
    return iters / elapsed


def speed(args) -> dict:
    import torch

    from ml.segmentation.config import PAPER_CONFIG, TINY_CONFIG

    torch.manual_seed(0)
    figures: dict = {"cpu_threads": torch.get_num_threads(), "size": 512}
    cpu = torch.device("cpu")
    for name, config, repeats in (("tiny", TINY_CONFIG, args.repeats * 3), ("paper", PAPER_CONFIG, args.repeats)):
        model, _ = build_model(config, cpu)
        seconds = time_forward(model, torch.randn(1, 3, 512, 512), repeats=repeats, warmup=1)
        figures[f"cpu_{name}_ms_per_image"] = round(seconds * 1000, 1)
        log(f"CPU {name:5s} 512²: {seconds * 1000:8.1f} ms/image (batch 1, {torch.get_num_threads()} threads)")
    figures["cpu_paper_over_tiny"] = round(figures["cpu_paper_ms_per_image"] / figures["cpu_tiny_ms_per_image"], 2)
    if not torch.cuda.is_available():
        log("no CUDA GPU: GPU figures not measured")
        figures["gpu"] = None
        return figures
    gpu = torch.device("cuda")
    torch.backends.cudnn.benchmark = True
    model, _ = build_model(PAPER_CONFIG, gpu)
    model = model.to(memory_format=torch.channels_last)
    batch = torch.randn(16, 3, 512, 512, device=gpu).to(memory_format=torch.channels_last)
    g = {"name": torch.cuda.get_device_name(0)}
    for label, autocast in (("fp32", False), ("fp16", True)):
        seconds = time_forward(model, batch, repeats=20, warmup=5, autocast=autocast)
        g[f"paper_b16_{label}_ms_per_image"] = round(seconds * 1000 / 16, 2)
        log(f"GPU paper batch-16 512² {label}: {seconds * 1000 / 16:.2f} ms/image (target ≤ 10 ms)")
    for label, autocast in (("fp32", False), ("fp16", True)):
        model, _ = build_model(PAPER_CONFIG, gpu)
        its = time_training(model, 8, 512, iters=20, warmup=5, autocast=autocast)
        g[f"paper_train_b8_{label}_iters_per_s"] = round(its, 2)
        log(f"GPU paper training batch 8 @512² {label}: {its:.2f} iters/s")
    figures["gpu"] = g
    return figures


def quality(args) -> dict:
    from ml.segmentation.config import TINY_CONFIG
    from ml.segmentation.evaluation import evaluate_split
    from ml.segmentation.predictor import Predictor
    from ml.segmentation.train import train
    from ml.synthetic import generate_dataset

    with tempfile.TemporaryDirectory(prefix="flawmap-bench-seg-") as tmp:
        data, work = Path(tmp) / "data", Path(tmp) / "work"
        log(f"generating {args.n} synthetic images at {args.image_size}² (seed {args.seed}) ...")
        generate_dataset(data, n=args.n, size=args.image_size, seed=args.seed)
        log(f"training {TINY_CONFIG} for {args.iters} iterations on the CPU ...")
        started = time.perf_counter()
        metrics = train(config=TINY_CONFIG, data=data, work_dir=work, max_iters=args.iters, device="cpu",
                        seed=args.seed)
        wall = time.perf_counter() - started
        test = evaluate_split(Predictor(work / "best.pth", device="cpu"), data, "test")
    figures = {
        "config": TINY_CONFIG, "images": args.n, "seed": args.seed, "iters": args.iters,
        "best_iter": metrics["best_iter"], "train_seconds": metrics["train_seconds"],
        "train_and_val_seconds": round(wall, 1), "val_artifact_IoU": metrics["val"]["artifact_IoU"],
        "test_artifact_IoU": test["artifact_IoU"], "test_mIoU": test["mIoU"], "test_images": test["images"],
    }
    log(f"tiny config: {metrics['train_seconds'] / 60:.1f} CPU-minutes of training (target ≤ 10), "
        f"test artifact IoU {test['artifact_IoU']:.3f} (target ≥ 0.40), mIoU {test['mIoU']:.3f}, "
        f"val artifact IoU {metrics['val']['artifact_IoU']:.3f}")
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["speed", "quality", "all"], nargs="?", default="speed")
    parser.add_argument("--repeats", type=int, default=3, help="timed CPU forwards of the paper config")
    parser.add_argument("--n", type=int, default=400, help="synthetic images for `quality`")
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--iters", type=int, default=1500, help="tiny-config training iterations for `quality`")
    parser.add_argument("--seed", type=int, default=7, help="not the seed the config was tuned on (1)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if os.environ.get("CUDA_VISIBLE_DEVICES") is None and args.what == "quality":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # the quality figure is a CPU figure
    figures = {}
    if args.what in ("speed", "all"):
        figures["speed"] = speed(args)
    if args.what in ("quality", "all"):
        figures["quality"] = quality(args)
    print(json.dumps(figures, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
