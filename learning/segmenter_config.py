"""Which config a segmenter retraining runs, and the line a training worker logs about it at start-up."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from celery.signals import celeryd_after_setup
from django.conf import settings

from backend.mlmodels.models import ModelVersion

logger = logging.getLogger(__name__)

# Training and inference jobs run on this queue (backend/jobs/registry.py).
TRAINING_QUEUE = "gpu"


def segmenter_config_for(*, requested: str | None, fine_tuned: ModelVersion | None) -> str:
    """`requested` (the job's option) or FLAWMAP_SEGMENTER_CONFIG. "auto" keeps the config of the model being
    fine-tuned (its weights only fit that network), else picks by device (ml/segmentation/default_config.py)."""
    # torch loads here (the CUDA probe), on the training worker only.
    from ml.segmentation.config import available_configs
    from ml.segmentation.default_config import is_auto, resolve_segmenter_config

    config = requested or settings.FLAWMAP_SEGMENTER_CONFIG
    if is_auto(config) and fine_tuned is not None and fine_tuned.config_name in available_configs():
        return fine_tuned.config_name
    return resolve_segmenter_config(config, device=settings.FLAWMAP_ML_DEVICE)


def log_segmenter_config(*, queues: Iterable[str]) -> str | None:
    """Say at a training worker's start which config a first training (no model to fine-tune) would run."""
    if TRAINING_QUEUE not in set(queues):
        return None  # an io worker never trains: no torch import for it
    from ml.segmentation.default_config import is_auto

    setting = settings.FLAWMAP_SEGMENTER_CONFIG
    config = segmenter_config_for(requested=None, fine_tuned=None)
    if is_auto(setting):
        from ml.segmentation.default_config import cuda_available

        why = (f"FLAWMAP_SEGMENTER_CONFIG=auto, {'a' if cuda_available() else 'no'} CUDA device, "
               f"FLAWMAP_ML_DEVICE={settings.FLAWMAP_ML_DEVICE}; fine-tuning keeps the production model's config")
    else:
        why = "set by FLAWMAP_SEGMENTER_CONFIG"
    message = f"segmenter training config: {config} ({why})"
    logger.info(message)
    return message


@celeryd_after_setup.connect(dispatch_uid="learning.log_segmenter_config")
def _log_segmenter_config_at_worker_start(sender, instance, **kwargs) -> None:
    # After -Q was applied: the queues this worker consumes.
    log_segmenter_config(queues=instance.app.amqp.queues.consume_from.keys())
