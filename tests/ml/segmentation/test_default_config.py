"""FLAWMAP_SEGMENTER_CONFIG=auto: the paper config where training gets a CUDA device, the tiny one elsewhere."""

import os

import pytest

from ml.segmentation import default_config
from ml.segmentation.config import PAPER_CONFIG, TINY_CONFIG
from ml.segmentation.default_config import resolve_segmenter_config


@pytest.mark.parametrize(("cuda", "device", "expected"), [
    (True, "auto", PAPER_CONFIG),
    (True, "cuda", PAPER_CONFIG),
    (True, "cpu", TINY_CONFIG),  # a GPU host told to train on the CPU
    (False, "auto", TINY_CONFIG),
])
def test_auto_picks_by_cuda_device(monkeypatch, cuda, device, expected):
    monkeypatch.setattr(default_config, "cuda_available", lambda: cuda)
    assert resolve_segmenter_config("auto", device=device) == expected
    assert resolve_segmenter_config(" AUTO ", device=device) == expected


def test_a_named_config_is_kept_whatever_the_device(monkeypatch):
    monkeypatch.setattr(default_config, "cuda_available", lambda: True)
    assert resolve_segmenter_config(TINY_CONFIG) == TINY_CONFIG
    assert resolve_segmenter_config("/some/where/my_config.py", device="cpu") == "/some/where/my_config.py"


def test_the_probe_answers_without_initialising_cuda(monkeypatch):
    """A Celery worker probes before forking its pool: the probe must take torch's fork-safe (NVML) path."""
    import torch

    seen = []
    monkeypatch.delenv("PYTORCH_NVML_BASED_CUDA_CHECK", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: seen.append(torch.cuda._nvml_based_avail()) or False)
    assert default_config.cuda_available() is False
    assert seen == [True]
    assert "PYTORCH_NVML_BASED_CUDA_CHECK" not in os.environ  # put back as it was
