"""What the segmenter config "auto" means on this machine: the paper recipe where training gets a CUDA device, the
tiny CPU config elsewhere (the paper's Swin-T at 512x512 is days of CPU time; the tiny one is minutes).

Deciding needs torch, so it happens where training happens (a worker), never in the web process."""

from __future__ import annotations

import os

from .config import PAPER_CONFIG, TINY_CONFIG

AUTO = "auto"
_NVML_CHECK = "PYTORCH_NVML_BASED_CUDA_CHECK"  # torch.cuda.is_available() without initialising CUDA


def cuda_available() -> bool:
    """Whether torch sees a CUDA device (imports torch), asked through NVML: the default check initialises CUDA in
    this process, and a process that forks afterwards (a Celery worker starting its pool) would leave its children
    a GPU they cannot use."""
    import torch

    previous = os.environ.get(_NVML_CHECK)
    os.environ[_NVML_CHECK] = "1"
    try:
        return torch.cuda.is_available()
    finally:
        if previous is None:
            os.environ.pop(_NVML_CHECK, None)
        else:
            os.environ[_NVML_CHECK] = previous


def is_auto(config: str | None) -> bool:
    return (config or "").strip().lower() == AUTO


def resolve_segmenter_config(config: str, *, device: str = "auto") -> str:
    """`config` itself (a name in ml/segmentation/configs or a path), or for "auto" the default for `device`
    ("auto", "cpu" or "cuda", as FLAWMAP_ML_DEVICE): the paper config when it resolves to a CUDA device."""
    if not is_auto(config):
        return config
    if device == "cpu":
        return TINY_CONFIG
    return PAPER_CONFIG if cuda_available() else TINY_CONFIG
