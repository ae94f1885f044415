"""Training in several processes (one per GPU) with mmengine's distributed runner, started by torchrun.

`python -m torch.distributed.run --nproc_per_node N -m ml.segmentation.train ... --launcher pytorch`: every
process builds the same Runner with `launcher='pytorch'`, mmengine wraps the model in DDP and shards the data,
and the config's `sync_bn` (the paper config: 'torch') turns its BatchNorms into SyncBN. Only rank 0 writes
checkpoints (mmengine's CheckpointHook) and, after training, best.pth and metrics.json (`train`).

On the CPU (tests, a box without GPUs) the processes talk over gloo: mmengine's own start-up pins each process to
a CUDA device, so the process group is opened here first, the DDP wrapper gets no device ids, and SyncBN, which
only runs on GPUs, is left out (plain BatchNorm per process).
"""

from __future__ import annotations

import os

LAUNCHERS = ("none", "pytorch")
# Set by torchrun in every process it starts; without them `--launcher pytorch` has no group to join.
TORCHRUN_ENV = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


class LauncherError(ValueError):
    """A launcher that does not exist, or `pytorch` outside torchrun."""


def launcher_world_size(launcher: str) -> int:
    """How many processes train together: 1 without a launcher, torchrun's WORLD_SIZE with one."""
    if launcher not in LAUNCHERS:
        raise LauncherError(f"launcher must be one of {', '.join(LAUNCHERS)}, not {launcher!r}")
    if launcher == "none":
        return 1
    missing = [name for name in TORCHRUN_ENV if name not in os.environ]
    if missing:
        raise LauncherError(f"--launcher pytorch runs under torchrun (python -m torch.distributed.run "
                            f"--nproc_per_node N -m ml.segmentation.train ...): {', '.join(missing)} not set")
    return int(os.environ["WORLD_SIZE"])


def configure_launcher(cfg, *, launcher: str, device_type: str) -> None:
    """Point the config at the launcher; on the CPU, open the gloo group and fit DDP and BatchNorm to it."""
    launcher_world_size(launcher)  # validates
    cfg.launcher = launcher
    if launcher == "none":
        return  # mmengine reverts any SyncBN to BatchNorm itself and ignores `sync_bn`
    # Each rank its own augmentation stream (the samplers still agree on one shuffle; DDP starts every rank from
    # rank 0's weights), else every rank would crop and flip its images alike.
    cfg.randomness = dict(cfg.get("randomness") or {}, diff_rank_seed=True)
    if device_type != "cpu":
        cfg.env_cfg.dist_cfg = dict(cfg.env_cfg.get("dist_cfg") or {}, backend="nccl")
        return
    import torch.distributed as dist

    cfg.env_cfg.dist_cfg = dict(cfg.env_cfg.get("dist_cfg") or {}, backend="gloo")
    if not dist.is_initialized():
        dist.init_process_group(backend="gloo")  # env:// from torchrun; mmengine then skips its own start-up
    cfg.model_wrapper_cfg = dict(type="MMDistributedDataParallel", device_ids=None)  # CPU modules take no ids
    cfg.pop("sync_bn", None)


def split_batch(cfg, world_size: int) -> int:
    """The config's (or --batch-size's) batch is per iteration across all processes, so a recipe is the same on
    any number of GPUs (the paper's 16 = 8 GPUs x 2 or 1 GPU x 16); returns what each process loads."""
    total = cfg.train_dataloader.batch_size
    if total % world_size:
        from .config import ConfigError

        raise ConfigError(f"batch size {total} does not split across {world_size} processes: "
                          f"pass --batch-size a multiple of {world_size}")
    cfg.train_dataloader.batch_size = total // world_size
    return total


def rank() -> int:
    import torch.distributed as dist

    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def close_process_group(launcher: str) -> None:
    """Leave the group this run joined (torch warns at exit otherwise); a run without a launcher joined none."""
    import torch.distributed as dist

    if launcher != "none" and dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
