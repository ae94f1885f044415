"""Find segmenter configs by name and adapt them to a data folder, work dir and iteration budget."""

from __future__ import annotations

from pathlib import Path

from mmengine.config import Config

CONFIG_DIR = Path(__file__).parent / "configs"
PAPER_CONFIG = "pal4vst_swin-t_upernet_fcn-aux_adamw-20k_512x512"
TINY_CONFIG = "tiny_r18-slim_upernet_fcn-aux_adamw_cpu_256x256"


class ConfigError(ValueError):
    """A config that does not exist or does not fit the data."""


def available_configs() -> list[str]:
    return sorted(p.stem for p in CONFIG_DIR.glob("*.py"))


def resolve_config(name_or_path: str | Path) -> Path:
    """A path to a config file, or the name of one in ml/segmentation/configs (with or without .py)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    named = CONFIG_DIR / (path.name if path.suffix == ".py" else f"{path.name}.py")
    if named.is_file():
        return named
    raise ConfigError(f"config not found: {name_or_path} (known: {', '.join(available_configs())})")


def load_config(name_or_path: str | Path) -> Config:
    cfg = Config.fromfile(str(resolve_config(name_or_path)))
    cfg.config_name = resolve_config(name_or_path).stem
    return cfg


def configure_training(
    cfg: Config, *, data_root: Path, work_dir: Path, max_iters: int | None = None, seed: int = 0
) -> Config:
    """Point every dataloader at `data_root` and, when `max_iters` is given, shrink the schedule to it.

    The warm-up keeps its share of the schedule and the poly decay still ends at the last iteration, so a
    short run is the same recipe compressed rather than the start of a long one.
    """
    for split in ("train", "val", "test"):
        loader = cfg.get(f"{split}_dataloader")
        if loader is not None:
            loader.dataset.data_root = str(data_root)
    cfg.work_dir = str(work_dir)
    cfg.randomness = dict(seed=seed, deterministic=False)
    if max_iters is not None:
        if max_iters < 1:
            raise ConfigError("max_iters must be at least 1")
        old_max = cfg.train_cfg.max_iters
        cfg.train_cfg.max_iters = max_iters
        for scheduler in cfg.param_scheduler:
            scheduler.begin = min(max_iters, round(scheduler.get("begin", 0) * max_iters / old_max))
            scheduler.end = min(max_iters, max(scheduler.begin + 1, round(scheduler.end * max_iters / old_max)))
        cfg.param_scheduler[-1].end = max_iters
        interval = min(cfg.train_cfg.val_interval, max_iters)
        cfg.train_cfg.val_interval = interval
        cfg.default_hooks.checkpoint.interval = interval
    return cfg
