"""Find segmenter configs by name and adapt them to a data folder, work dir and iteration budget."""

from __future__ import annotations

import hashlib
from pathlib import Path

from mmengine.config import Config

from .checkpoint import UntrustedConfigError

CONFIG_DIR = Path(__file__).parent / "configs"
PAPER_CONFIG = "pal4vst_swin-t_upernet_fcn-aux_adamw-20k_512x512"
TINY_CONFIG = "tiny_r18-slim_upernet_fcn-aux_adamw_cpu_256x256"
# Training crops: Swin-T and the ResNets downsample by 32 (a multiple keeps every stage's map whole).
CROP_MULTIPLE, MIN_CROP, MAX_CROP = 32, 64, 2048
MAX_BATCH_SIZE = 256


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


def config_text(path: Path) -> str:
    """The canonical text of a config file: mmengine's `pretty_text` of it with its `_base_` files merged.
    Checkpoints embed this text, and `config_check` compares fingerprints of it, so comments and layout of
    the file do not matter but every value does."""
    return Config.fromfile(str(path)).pretty_text


def config_fingerprint(text: str) -> str:
    return hashlib.sha256(text.strip().encode("utf-8")).hexdigest()


def config_check(*, name: str, text: str) -> str:
    """Accept a checkpoint's embedded config only when it is the config of that name shipped in
    ml/segmentation/configs/ (same fingerprint, computed from the file now); returns the fingerprint.

    Building a model from a config executes it (mmengine parses config files as Python), so a checkpoint
    from elsewhere could run code through it; this is checked before the text is ever parsed."""
    digest = config_fingerprint(text)
    if name not in available_configs():
        raise UntrustedConfigError(
            f"embedded config {name!r} is not one shipped in ml/segmentation/configs/ "
            f"(known: {', '.join(available_configs())}); only an admin can admit it (--trust-config)"
        )
    expected = config_fingerprint(config_text(CONFIG_DIR / f"{name}.py"))
    if digest != expected:
        raise UntrustedConfigError(
            f"embedded config {name!r} differs from ml/segmentation/configs/{name}.py "
            f"(sha256 {digest[:12]}, shipped {expected[:12]}); only an admin can admit it (--trust-config)"
        )
    return digest


def load_config(name_or_path: str | Path) -> Config:
    cfg = Config.fromfile(str(resolve_config(name_or_path)))
    cfg.config_name = resolve_config(name_or_path).stem
    return cfg


def configure_training(
    cfg: Config, *, data_root: Path, work_dir: Path, max_iters: int | None = None, seed: int = 0,
    crop: int | None = None, batch_size: int | None = None, workers: int | None = None,
) -> Config:
    """Point every dataloader at `data_root` and, when `max_iters` is given, shrink the schedule to it.

    The warm-up keeps its share of the schedule and the poly decay still ends at the last iteration, so a
    short run is the same recipe compressed rather than the start of a long one.
    `crop`, `batch_size` and `workers` change how training samples, never the network or inference (see
    `_train_on_crops`), so a checkpoint of the run still carries the shipped config's text.
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
    if crop is not None:
        _train_on_crops(cfg, crop)
    if batch_size is not None:
        if not 1 <= batch_size <= MAX_BATCH_SIZE:
            raise ConfigError(f"batch_size must be between 1 and {MAX_BATCH_SIZE}, not {batch_size}")
        cfg.train_dataloader.batch_size = batch_size
    if workers is not None:
        if workers < 0:
            raise ConfigError(f"workers must be 0 or more, not {workers}")
        for split in ("train", "val", "test"):
            loader = cfg.get(f"{split}_dataloader")
            if loader is not None:
                # torch refuses persistent workers when there are none (loading in the main process)
                loader.num_workers, loader.persistent_workers = workers, workers > 0
    return cfg


def _train_on_crops(cfg: Config, crop: int) -> None:
    """Train on crop x crop samples: the pipeline's RandomCrop and the batch padding (the data preprocessor's
    `size`, used only in training). Rescaling, the network and the inference size stay as the config has them:
    Swin-T has no absolute position embedding and UperNet/FCN heads are convolutional, so the weights a small
    crop trains run unchanged at the config's inference size, and the Predictor needs nothing from the run."""
    if not MIN_CROP <= crop <= MAX_CROP or crop % CROP_MULTIPLE:
        raise ConfigError(f"crop must be a multiple of {CROP_MULTIPLE} between {MIN_CROP} and {MAX_CROP}, not {crop}")
    crops = [t for t in cfg.train_dataloader.dataset.pipeline if t.get("type") == "RandomCrop"]
    if not crops:
        raise ConfigError(f"{cfg.get('config_name', 'this config')} has no RandomCrop in its training pipeline")
    for transform in crops:
        transform.crop_size = (crop, crop)
    cfg.model.data_preprocessor.size = (crop, crop)
