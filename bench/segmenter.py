"""Segmenter figures: inference speed (CPU, and GPU when present) and what the tiny config learns in 10 CPU-minutes.

    .venv/bin/python bench/segmenter.py speed      # CPU ms/image at 512², tiny and paper config; GPU figures too
    .venv/bin/python bench/segmenter.py gpu        # the GPU section alone (what a lent GPU runs)
    .venv/bin/python bench/segmenter.py gpu --smoke  # the same code on whatever device, tiny sizes, no figures
    .venv/bin/python bench/segmenter.py quality    # train tiny on a fresh synthetic set, IoU on its test split
    .venv/bin/python bench/segmenter.py all --json

`speed` times the model forward the Predictor runs (normalised batch in, artifact probability out), after
warm-up, median over repeats. On a GPU (or with `gpu`) it adds the GPU section: the paper config's batch-16
inference ms/image (fp32 and fp16 autocast, target ≤ 10 ms on an H100) and training iterations/s at batch 8
@512² (`model.train_step` with the config's AdamW and paramwise decay: fp32 as the config says, and AMP fp16).
Without a GPU the section is skipped with a line saying so. Figures go to bench/results/segmenter/WHAT.json.
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


RESULTS = ROOT / "bench" / "results" / "segmenter"


def build_model(config: str, device, *, train_size: int | None = None):
    """The config's network, randomly initialised (nothing is downloaded); `train_size` sets the square the data
    preprocessor pads training batches to (the config's crop otherwise)."""
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules

    from ml.segmentation import components  # noqa: F401
    from ml.segmentation.config import load_config

    register_all_modules(init_default_scope=True)
    cfg = load_config(config)
    if train_size is not None:
        cfg.model.data_preprocessor.size = (train_size, train_size)
    cfg.model.pop("pretrained", None)
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


def time_training(config: str, device, *, batch_size: int, size: int, iters: int, warmup: int,
                  amp: bool) -> float:
    """Training iterations per second as the runner steps them (`model.train_step`: data preprocessor, losses,
    backward, the config's optimiser with its paramwise decay), on synthetic uint8 images and 0/1 labels
    already in memory (data loading is not timed). `amp`: mmengine's AmpOptimWrapper, fp16 (CUDA only)."""
    import torch
    from mmengine.optim import build_optim_wrapper
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    model, cfg = build_model(config, device, train_size=size)
    model.train()
    wrapper = cfg.optim_wrapper.copy()
    if amp:
        wrapper.update(type="AmpOptimWrapper", dtype="float16")
    optim_wrapper = build_optim_wrapper(model, wrapper)
    generator = torch.Generator().manual_seed(0)
    inputs, samples = [], []
    for _ in range(batch_size):
        inputs.append(torch.randint(0, 256, (3, size, size), dtype=torch.uint8, generator=generator))
        sample = SegDataSample()
        sample.gt_sem_seg = PixelData(data=torch.randint(0, 2, (1, size, size), generator=generator))
        sample.set_metainfo(dict(img_shape=(size, size), ori_shape=(size, size), pad_shape=(size, size)))
        samples.append(sample)
    data = dict(inputs=inputs, data_samples=samples)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    elapsed = 0.0
    for i in range(warmup + iters):
        sync()
        start = time.perf_counter()
        model.train_step(data, optim_wrapper)
        sync()
        if i >= warmup:
            elapsed += time.perf_counter() - start
    return iters / elapsed


def gpu_section(args) -> dict | None:
    """The paper config on a GPU: inference ms/image at batch 16 (fp32, fp16 autocast) and training iterations/s
    at batch 8 @512² (fp32, AMP). None, with a line saying so, when there is no CUDA GPU. `--smoke` runs the same
    code at toy sizes on whatever device there is, to prove it before a GPU is lent (its numbers mean nothing)."""
    import torch

    from ml.segmentation.config import PAPER_CONFIG

    cuda = torch.cuda.is_available()
    if not cuda and not args.smoke:
        log("no CUDA GPU: GPU section skipped (GPU figures not measured)")
        return None
    device = torch.device("cuda" if cuda else "cpu")
    if args.smoke:
        size, infer_batch, train_batch, warmup, iters = 128, 2, 2, 1, 1
    else:
        size, infer_batch, train_batch, warmup, iters = 512, 16, 8, args.gpu_warmup, args.gpu_iters
    torch.backends.cudnn.benchmark = True
    g = {"device": torch.cuda.get_device_name(0) if cuda else "cpu", "config": PAPER_CONFIG, "size": size,
         "inference_batch": infer_batch, "train_batch": train_batch, "warmup": warmup, "iters": iters,
         "smoke": bool(args.smoke), "torch": torch.__version__}
    model, _ = build_model(PAPER_CONFIG, device)
    model = model.to(memory_format=torch.channels_last)
    batch = torch.randn(infer_batch, 3, size, size, device=device).to(memory_format=torch.channels_last)
    for label, autocast in (("fp32", False), ("fp16", True)):
        seconds = time_forward(model, batch, repeats=iters, warmup=warmup, autocast=autocast)
        g[f"paper_infer_b{infer_batch}_{label}_ms_per_image"] = round(seconds * 1000 / infer_batch, 2)
    del model, batch
    for label, amp in (("fp32", False), ("amp_fp16", True)):
        if amp and not cuda:
            g[f"paper_train_b{train_batch}_{label}_iters_per_s"] = None  # mmengine's AMP wrapper needs CUDA
            continue
        its = time_training(PAPER_CONFIG, device, batch_size=train_batch, size=size, iters=iters, warmup=warmup,
                            amp=amp)
        g[f"paper_train_b{train_batch}_{label}_iters_per_s"] = round(its, 3)
        if cuda:
            torch.cuda.empty_cache()
    if cuda:
        g["peak_gpu_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    rows = [(k, v) for k, v in g.items() if k.startswith("paper_")]
    log(f"GPU section ({g['device']}{', SMOKE: toy sizes, not figures' if args.smoke else ''}), {PAPER_CONFIG}:")
    log(f"  {'figure':44s} {'value':>10s}")
    for key, value in rows:
        log(f"  {key:44s} {'-' if value is None else value:>10}")
    return g


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
    if not args.no_gpu:
        figures["gpu"] = gpu_section(args)
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
    parser.add_argument("what", choices=["speed", "gpu", "quality", "all"], nargs="?", default="speed")
    parser.add_argument("--repeats", type=int, default=3, help="timed CPU forwards of the paper config")
    parser.add_argument("--n", type=int, default=400, help="synthetic images for `quality`")
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--iters", type=int, default=1500, help="tiny-config training iterations for `quality`")
    parser.add_argument("--seed", type=int, default=7, help="not the seed the config was tuned on (1)")
    parser.add_argument("--no-gpu", action="store_true", help="`speed`/`all`: CPU figures only")
    parser.add_argument("--gpu-iters", type=int, default=20, help="timed iterations/forwards of the GPU section")
    parser.add_argument("--gpu-warmup", type=int, default=5)
    parser.add_argument("--smoke", action="store_true",
                        help="`gpu`: run the GPU section's code at toy sizes on any device; writes no results")
    parser.add_argument("--out", type=Path, help="results JSON (default bench/results/segmenter/WHAT.json)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if os.environ.get("CUDA_VISIBLE_DEVICES") is None and args.what == "quality":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # the quality figure is a CPU figure
    figures = {}
    if args.what == "gpu":
        figures["gpu"] = gpu_section(args)
    if args.what in ("speed", "all"):
        figures["speed"] = speed(args)
    if args.what in ("quality", "all"):
        figures["quality"] = quality(args)
    print(json.dumps(figures, indent=None if args.json else 2))
    out = args.out or (None if args.smoke or figures == {"gpu": None} else RESULTS / f"{args.what}.json")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(figures, indent=2) + "\n")
        log(f"figures written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
