"""Train the artifact segmenter on a PAL4VST-layout folder.

    python -m ml.segmentation.train --config tiny_r18-slim_upernet_fcn-aux_adamw_cpu_256x256 \
        --data DIR --work-dir DIR [--max-iters N] [--init CKPT | --from-scratch] [--device cpu|cuda|auto] [--seed S]
        [--crop N] [--batch-size N] [--workers N]

Writes WORK_DIR/best.pth (weights + config, the best on `val` by artifact-class IoU) and
WORK_DIR/metrics.json (val scores of that checkpoint: mIoU, artifact IoU, per-task IoU, training time).

On several GPUs (mmengine's distributed runner: DDP, and SyncBN where the config asks for it):
    python -m torch.distributed.run --standalone --nproc_per_node N -m ml.segmentation.train ... --launcher pytorch
The batch size stays the batch of one iteration, split across the N processes; rank 0 writes the files.
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
    launcher: str = "none",
) -> dict:
    """Train, keep the best checkpoint as WORK_DIR/best.pth and return (and write) its val metrics.

    `on_progress` is called every few iterations (and after each validation) — how a job reports progress
    and notices a cancel without `ml/` knowing about jobs. `quiet` keeps mmengine to warnings (no config dump
    or per-iteration lines), for callers that report progress themselves.
    `crop`, `batch_size`, `workers`: how training samples (`config.configure_training`), recorded in the
    checkpoint's meta["training"]; the checkpoint still embeds the shipped config's text, which is what
    rebuilds the network. A config with `init_required` (the paper recipe) needs `init`, or `from_scratch`
    to train from random weights on purpose.
    `launcher`: "pytorch" in each process torchrun starts (ml/segmentation/distributed.py); only rank 0 reports
    progress, writes the files and returns the metrics, the other ranks return {}."""
    import torch
    from mmseg.utils import register_all_modules

    from .config import ConfigError, configure_training, load_config
    from .distributed import close_process_group, configure_launcher, launcher_world_size, rank, split_batch
    from .evaluation import split_pairs
    from .predictor import resolve_device

    data, work_dir = Path(data), Path(work_dir)
    for split in ("train", "val"):
        split_pairs(data, split)  # fail early, naming the folder, before building anything
    if init is not None and not Path(init).is_file():
        raise FileNotFoundError(f"--init checkpoint not found: {init}")
    world_size = launcher_world_size(launcher)
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
    batch_total = split_batch(cfg, world_size)
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
    configure_launcher(cfg, launcher=launcher, device_type=resolved.type)
    try:
        if rank() == 0:
            for stale in [*work_dir.glob("best_*.pth"), *work_dir.glob("iter_*.pth")]:
                stale.unlink()
        train_seconds = _run(cfg, on_progress=on_progress if rank() == 0 else None)
        if rank() != 0:
            return {}
        return _keep_best(cfg, config=config, data=data, work_dir=work_dir, device=resolved, seed=seed, crop=crop,
                          init=init, from_scratch=from_scratch, batch_total=batch_total, world_size=world_size,
                          train_seconds=train_seconds)
    finally:
        close_process_group(launcher)


def _run(cfg, *, on_progress: ProgressCallback | None) -> float:
    """Build mmengine's Runner from the prepared config, train, and return the training time in seconds."""
    from mmengine.runner import Runner

    from .components import WeightsOnlyCheckpointHook
    from .library_notices import KnownLogNoticeFilter, known_warnings_hidden

    with known_warnings_hidden():
        runner = Runner.from_cfg(cfg)
        runner.logger.addFilter(KnownLogNoticeFilter())
        runner.register_hook(WeightsOnlyCheckpointHook())
        if on_progress is not None:
            from .components import ProgressHook

            runner.register_hook(ProgressHook(on_progress), priority="LOW")
        started = time.perf_counter()
        runner.train()
        return time.perf_counter() - started


def _keep_best(cfg, *, config: str, data: Path, work_dir: Path, device, seed: int, crop: int | None,
               init: Path | None, from_scratch: bool, batch_total: int, world_size: int,
               train_seconds: float) -> dict:
    """Rank 0 after training: best.pth and metrics.json, the run's only checkpoint and its val scores."""
    from .checkpoint import read_checkpoint, save_slim_checkpoint, state_dict_of
    from .config import config_text, resolve_config
    from .evaluation import evaluate_split
    from .predictor import Predictor

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
              "training": {"max_iters": cfg.train_cfg.max_iters, "seed": seed, "crop": crop, "batch_size": batch_total,
                           "processes": world_size, "init": init is not None, "from_scratch": from_scratch}},
    )
    # mmengine's interval checkpoints too: we never resume, and a run leaves one checkpoint.
    for path in [*best, *work_dir.glob("iter_*.pth")]:
        path.unlink()
    (work_dir / "last_checkpoint").unlink(missing_ok=True)

    predictor = Predictor(slim, device=str(device), trust_config=True)  # the config this run just executed
    metrics = {
        "config": cfg.config_name,
        "checkpoint": slim.name,
        "best_iter": best_iter,
        "max_iters": cfg.train_cfg.max_iters,
        "train_seconds": round(train_seconds, 1),
        "device": str(device),
        "processes": world_size,
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
    parser.add_argument("--batch-size", type=int,
                        help="images per iteration instead of the config's (split across --launcher processes)")
    parser.add_argument("--workers", type=int, help="data-loading worker processes (0: in the main process)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--launcher", default="none", choices=["none", "pytorch"],
                        help="pytorch: one of torchrun's processes (mmengine's distributed runner, DDP)")
    parser.add_argument("--quiet", action="store_true", help="mmengine logs warnings only")
    parser.add_argument("--progress-lines", action="store_true",
                        help="print progress as JSON lines for a parent process (ml/segmentation/launch.py)")
    args = parser.parse_args(argv)
    if args.device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # before torch initialises CUDA: mmengine picks the GPU otherwise

    from .checkpoint import CheckpointError
    from .config import ConfigError
    from .launch import print_progress_line

    try:
        metrics = train(config=args.config, data=args.data, work_dir=args.work_dir, max_iters=args.max_iters,
                        init=args.init, device=args.device, seed=args.seed, crop=args.crop,
                        batch_size=args.batch_size, workers=args.workers, from_scratch=args.from_scratch,
                        on_progress=print_progress_line if args.progress_lines else None, quiet=args.quiet,
                        launcher=args.launcher)
    except (FileNotFoundError, ConfigError, CheckpointError, ValueError) as exc:
        sys.stderr.write(f"error: {exc}\n")  # one write: under torchrun every rank shares the output
        return 2
    if not metrics:
        return 0  # a rank other than 0: rank 0 reports
    val = metrics["val"]
    print(f"best iter {metrics['best_iter']}/{metrics['max_iters']} in {metrics['train_seconds']} s: "
          f"val artifact IoU {val['artifact_IoU']}, mIoU {val['mIoU']} -> {args.work_dir / 'best.pth'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
