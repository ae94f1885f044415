"""Train the artifact segmenter on a PAL4VST-layout folder.

    python -m ml.segmentation.train --config tiny_r18-slim_upernet_fcn-aux_adamw_cpu_256x256 \
        --data DIR --work-dir DIR [--max-iters N] [--init CKPT | --from-scratch] [--device cpu|cuda|auto] [--seed S]
        [--crop N] [--batch-size N] [--workers N]

Writes WORK_DIR/best.pth (weights + config, the best on `val` by artifact-class IoU) and
WORK_DIR/metrics.json (val scores of that checkpoint: mIoU, artifact IoU, per-task IoU, training time).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Callable

# (iteration, max_iters, latest log scalars) -> None; raising from it (e.g. on cancel) stops training.
ProgressCallback = Callable[[int, int, dict], None]


def train(
    *,
    config: str,
    data: Path,
    work_dir: Path,
    max_iters: int | None = None,
    init: Path | None = None,
    device: str = "auto",
    seed: int = 0,
    crop: int | None = None,
    batch_size: int | None = None,
    workers: int | None = None,
    from_scratch: bool = False,
    on_progress: ProgressCallback | None = None,
    quiet: bool = False,
) -> dict:
    """Train, keep the best checkpoint as WORK_DIR/best.pth and return (and write) its val metrics.

    `on_progress` is called every few iterations (and after each validation) — how a job reports progress
    and notices a cancel without `ml/` knowing about jobs. `quiet` keeps mmengine to warnings (no config dump
    or per-iteration lines), for callers that report progress themselves.
    `crop`, `batch_size`, `workers`: how training samples (`config.configure_training`), recorded in the
    checkpoint's meta["training"]; the checkpoint still embeds the shipped config's text, which is what
    rebuilds the network. A config with `init_required` (the paper recipe) needs `init`, or `from_scratch`
    to train from random weights on purpose."""
    import torch
    from mmengine.runner import Runner
    from mmseg.utils import register_all_modules

    from .checkpoint import read_checkpoint, save_slim_checkpoint, state_dict_of
    from .components import WeightsOnlyCheckpointHook
    from .config import ConfigError, config_text, configure_training, load_config, resolve_config
    from .evaluation import evaluate_split, split_pairs
    from .library_notices import KnownLogNoticeFilter, known_warnings_hidden
    from .predictor import Predictor, resolve_device

    data, work_dir = Path(data), Path(work_dir)
    for split in ("train", "val"):
        split_pairs(data, split)  # fail early, naming the folder, before building anything
    if init is not None and not Path(init).is_file():
        raise FileNotFoundError(f"--init checkpoint not found: {init}")
    resolved = resolve_device(device)
    if resolved.type == "cpu" and torch.cuda.is_available():
        raise ConfigError("--device cpu on a CUDA machine: run with CUDA_VISIBLE_DEVICES= to hide the GPU")

    cfg = configure_training(load_config(config), data_root=data, work_dir=work_dir, max_iters=max_iters, seed=seed,
                             crop=crop, batch_size=batch_size, workers=workers)
    if init is not None and from_scratch:
        raise ConfigError("--init and --from-scratch exclude each other")
    if init is None and cfg.get("init_required") and not from_scratch:
        # Nothing is downloaded: without a local checkpoint the network would start from random weights.
        raise ConfigError(f"{cfg.config_name} starts from pretrained weights: pass --init CKPT (a local checkpoint, "
                          "e.g. ADE20K UperNet Swin-T), or --from-scratch to train from random weights on purpose")
    register_all_modules(init_default_scope=True)
    # mmengine keeps the visualizer and logger as process-wide singletons keyed by name: a second training in
    # the same process (a worker, the demo) would reuse the first run's, whose work dir may be gone.
    run_id = uuid.uuid4().hex[:8]
    cfg.experiment_name = f"{cfg.config_name}_{run_id}"
    cfg.visualizer.name = f"visualizer_{run_id}"
    if quiet:
        cfg.log_level = "WARNING"
    if init is not None:
        cfg.custom_hooks = [*cfg.get("custom_hooks", []), dict(type="InitFromCheckpointHook", checkpoint=str(init))]
    work_dir.mkdir(parents=True, exist_ok=True)
    for stale in work_dir.glob("best_*.pth"):
        stale.unlink()

    with known_warnings_hidden():
        runner = Runner.from_cfg(cfg)
        runner.logger.addFilter(KnownLogNoticeFilter())
        runner.register_hook(WeightsOnlyCheckpointHook())
        if on_progress is not None:
            from .components import ProgressHook

            runner.register_hook(ProgressHook(on_progress), priority="LOW")
        started = time.perf_counter()
        runner.train()
        train_seconds = time.perf_counter() - started

    # Keep a slim copy of mmengine's best checkpoint that carries the config file's canonical text (not the run's
    # copy with its data and work folders: a shipped config then matches `config.config_check` when the model is
    # registered or loaded), then drop mmengine's.
    best = sorted(work_dir.glob("best_artifact_IoU_iter_*.pth"))
    if not best:
        raise RuntimeError(f"training finished but wrote no best checkpoint in {work_dir}")
    full = read_checkpoint(best[-1])
    best_iter = int(full.get("meta", {}).get("iter", 0))
    slim = save_slim_checkpoint(
        work_dir / "best.pth",
        state_dict=state_dict_of(full),
        config_text=config_text(resolve_config(config)),
        meta={"config_name": cfg.config_name, "iter": best_iter, "classes": ["clean", "artifact"],
              "training": {"max_iters": cfg.train_cfg.max_iters, "seed": seed, "crop": crop, "batch_size":
                           cfg.train_dataloader.batch_size, "init": init is not None, "from_scratch": from_scratch}},
    )
    for path in best:
        path.unlink()
    (work_dir / "last_checkpoint").unlink(missing_ok=True)

    predictor = Predictor(slim, device=str(resolved), trust_config=True)  # the config this run just executed
    metrics = {
        "config": cfg.config_name,
        "checkpoint": slim.name,
        "best_iter": best_iter,
        "max_iters": cfg.train_cfg.max_iters,
        "train_seconds": round(train_seconds, 1),
        "device": str(resolved),
        "val": evaluate_split(predictor, data, "val"),
    }
    (work_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml.segmentation.train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="config name (in ml/segmentation/configs) or path")
    parser.add_argument("--data", type=Path, required=True, help="PAL4VST-layout folder (images/, labels/)")
    parser.add_argument("--work-dir", type=Path, required=True)
    parser.add_argument("--max-iters", type=int, help="shrink the config's schedule to N iterations")
    start = parser.add_mutually_exclusive_group()
    start.add_argument("--init", type=Path, help="start from this local checkpoint (matching weights only)")
    start.add_argument("--from-scratch", action="store_true",
                       help="random initial weights for a config that asks for --init (the paper config)")
    parser.add_argument("--crop", type=int, help="train on NxN crops instead of the config's (multiple of 32)")
    parser.add_argument("--batch-size", type=int, help="training batch size instead of the config's")
    parser.add_argument("--workers", type=int, help="data-loading worker processes (0: in the main process)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # before torch initialises CUDA: mmengine picks the GPU otherwise

    from .checkpoint import CheckpointError
    from .config import ConfigError

    try:
        metrics = train(config=args.config, data=args.data, work_dir=args.work_dir, max_iters=args.max_iters,
                        init=args.init, device=args.device, seed=args.seed, crop=args.crop,
                        batch_size=args.batch_size, workers=args.workers, from_scratch=args.from_scratch)
    except (FileNotFoundError, ConfigError, CheckpointError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    val = metrics["val"]
    print(f"best iter {metrics['best_iter']}/{metrics['max_iters']} in {metrics['train_seconds']} s: "
          f"val artifact IoU {val['artifact_IoU']}, mIoU {val['mIoU']} -> {args.work_dir / 'best.pth'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
