"""Which config a retraining runs under FLAWMAP_SEGMENTER_CONFIG, and the training worker's start-up line."""

import logging
from types import SimpleNamespace

import pytest

from learning import segmenter_config
from learning.segmenter_config import log_segmenter_config, segmenter_config_for
from ml.segmentation import default_config
from ml.segmentation.config import PAPER_CONFIG, TINY_CONFIG


@pytest.fixture
def cuda(monkeypatch):
    """Set the CUDA probe's answer (no GPU needed)."""
    def set_cuda(present: bool) -> None:
        monkeypatch.setattr(default_config, "cuda_available", lambda: present)
    return set_cuda


def test_the_default_setting_is_auto(monkeypatch):
    import importlib

    import backend.config.settings.ml as ml_settings

    monkeypatch.delenv("FLAWMAP_SEGMENTER_CONFIG", raising=False)
    # The settings module only defines names: reading it again changes nothing Django already configured.
    assert importlib.reload(ml_settings).FLAWMAP_SEGMENTER_CONFIG == "auto"


@pytest.mark.parametrize(("present", "expected"), [(True, PAPER_CONFIG), (False, TINY_CONFIG)])
def test_auto_picks_by_device_for_a_first_training(settings, cuda, present, expected):
    settings.FLAWMAP_SEGMENTER_CONFIG, settings.FLAWMAP_ML_DEVICE = "auto", "auto"
    cuda(present)
    assert segmenter_config_for(requested=None, fine_tuned=None) == expected


def test_auto_keeps_the_config_of_the_model_it_fine_tunes(settings, cuda):
    settings.FLAWMAP_SEGMENTER_CONFIG = "auto"
    cuda(True)  # its weights only fit its own network, whatever the device prefers
    assert segmenter_config_for(requested=None, fine_tuned=SimpleNamespace(config_name=TINY_CONFIG)) == TINY_CONFIG
    # ... unless that config is not one shipped here
    assert segmenter_config_for(requested=None, fine_tuned=SimpleNamespace(config_name="gone")) == PAPER_CONFIG


def test_a_named_setting_or_job_option_wins(settings, cuda):
    cuda(True)
    settings.FLAWMAP_SEGMENTER_CONFIG = TINY_CONFIG
    assert segmenter_config_for(requested=None, fine_tuned=None) == TINY_CONFIG
    assert segmenter_config_for(requested=PAPER_CONFIG, fine_tuned=None) == PAPER_CONFIG


@pytest.mark.parametrize(("present", "expected"), [(True, PAPER_CONFIG), (False, TINY_CONFIG)])
def test_a_training_worker_logs_the_choice_at_start_up(settings, cuda, caplog, present, expected):
    settings.FLAWMAP_SEGMENTER_CONFIG, settings.FLAWMAP_ML_DEVICE = "auto", "auto"
    cuda(present)
    worker = SimpleNamespace(app=SimpleNamespace(amqp=SimpleNamespace(queues=SimpleNamespace(
        consume_from={"default": None, "io": None, "gpu": None}))))
    with caplog.at_level(logging.INFO, logger=segmenter_config.__name__):
        segmenter_config._log_segmenter_config_at_worker_start("celery@host", instance=worker)
    [line] = [r.getMessage() for r in caplog.records if r.name == segmenter_config.__name__]
    assert line.startswith(f"segmenter training config: {expected} (FLAWMAP_SEGMENTER_CONFIG=auto, ")
    assert ("a CUDA device" if present else "no CUDA device") in line


def test_an_io_worker_decides_nothing(settings, monkeypatch):
    def no_probe():
        raise AssertionError("an io worker must not probe CUDA (no torch import)")
    monkeypatch.setattr(default_config, "cuda_available", no_probe)
    settings.FLAWMAP_SEGMENTER_CONFIG = "auto"
    assert log_segmenter_config(queues=["default", "io"]) is None
