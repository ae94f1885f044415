"""Checkpoints live in blob storage; each host's FLAWMAP_MODEL_CACHE_DIR is only a cache it can lose or that can
be damaged: a model registered on one host loads on another whose cache is empty (a real S3 API: moto's server)."""

import hashlib

import numpy as np
import pytest
from django.core.files.base import ContentFile

from backend.core.blobs import atomic_with_blobs, blob_storage, blob_store
from backend.core.exceptions import ApplicationError
from backend.mlmodels import predictors
from backend.mlmodels.models import ModelVersion
from backend.mlmodels.predictors import checkpoint_local_path, segmenter_predictor
from backend.mlmodels.services import model_register
from tests.s3_server import bucket_keys

pytestmark = pytest.mark.django_db

WEIGHTS = b"not really weights, but bytes with a sha256" * 1000


@pytest.fixture
def fresh_predictors(monkeypatch):
    """This process's loaded models forgotten, as on another host (the cache is per process)."""
    monkeypatch.setattr(predictors, "_cache", type(predictors._cache)())


def _model_with(data: bytes) -> ModelVersion:
    with atomic_with_blobs():
        blob = blob_store(data=data, content_type="application/octet-stream")
        return ModelVersion.objects.create(kind="segmenter", name="cached", version="v1", checkpoint=blob)


def test_a_model_registered_on_one_host_loads_on_another_with_an_empty_cache(
        s3_blobs, s3_client, trained, settings, tmp_path, fresh_predictors):
    settings.FLAWMAP_MODEL_CACHE_DIR = str(tmp_path / "host-a" / "model-cache")
    model = model_register(kind="segmenter", name="unified", checkpoint_path=trained[0] / "best.pth")
    assert model.checkpoint.key in bucket_keys(s3_client, s3_blobs)

    host_b = tmp_path / "host-b" / "model-cache"  # not there yet
    settings.FLAWMAP_MODEL_CACHE_DIR = str(host_b)
    model = ModelVersion.objects.select_related("checkpoint").get(pk=model.pk)
    masks, _, par = segmenter_predictor(model, device="cpu").predict([np.zeros((40, 60, 3), np.uint8)])
    assert masks[0].shape == (40, 60) and 0.0 <= par[0] <= 1.0
    cached = host_b / f"{model.checkpoint_id}.pt"
    assert [p.name for p in host_b.iterdir()] == [cached.name]  # no temporary file left beside it
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == model.checkpoint_id


def test_a_lost_or_damaged_cache_file_is_fetched_again(settings, tmp_path):
    settings.FLAWMAP_MODEL_CACHE_DIR = str(tmp_path / "cache")
    model = _model_with(WEIGHTS)
    path = checkpoint_local_path(model)
    assert path.read_bytes() == WEIGHTS
    path.write_bytes(WEIGHTS[:100])  # a copy cut short (disk full, a killed copy by hand)
    assert checkpoint_local_path(model).read_bytes() == WEIGHTS
    path.unlink()
    assert checkpoint_local_path(model).read_bytes() == WEIGHTS


def test_a_checkpoint_changed_in_storage_is_refused_and_not_cached(settings, tmp_path):
    settings.FLAWMAP_MODEL_CACHE_DIR = str(tmp_path / "cache")
    model = _model_with(WEIGHTS)
    blob_storage().delete(model.checkpoint.key)
    blob_storage().save(model.checkpoint.key, ContentFile(WEIGHTS[::-1]))  # same size, other bytes
    with pytest.raises(ApplicationError, match="does not match its sha256"):
        checkpoint_local_path(model)
    assert list((tmp_path / "cache").iterdir()) == []
