import numpy as np
import pytest
from django.core.management import CommandError, call_command

from backend.core.models import Blob
from backend.mlmodels.models import ModelVersion
from backend.mlmodels.predictors import segmenter_predictor
from backend.mlmodels.services import model_promote, model_register
from tests.backend.storage_checks import assert_storage_matches_tables

pytestmark = pytest.mark.django_db


def test_register_stores_checkpoint_config_and_metrics_then_serves_predictions(trained, blob_dir, settings, tmp_path):
    settings.FLAWMAP_MODEL_CACHE_DIR = str(tmp_path / "cache")
    work_dir, metrics = trained
    call_command("model_register", "--checkpoint", str(work_dir / "best.pth"), "--name", "unified")
    model = ModelVersion.objects.get()
    assert (model.kind, model.name, model.version, model.status) == ("segmenter", "unified", "v1", "candidate")
    assert model.metrics == metrics  # metrics.json beside the checkpoint
    assert model.config_name == metrics["config"] and "UPerHead" in model.config
    assert model.checkpoint.size == (work_dir / "best.pth").stat().st_size

    masks, probs, par = segmenter_predictor(model, device="cpu").predict([np.zeros((50, 70, 3), np.uint8)])
    assert masks[0].shape == (50, 70) and 0.0 <= par[0] <= 1.0


def test_promote_retires_the_previous_production_model(trained):
    path = trained[0] / "best.pth"
    first = model_register(kind="segmenter", name="unified", checkpoint_path=path)
    second = model_register(kind="segmenter", name="unified", checkpoint_path=path)
    assert second.version == "v2" and first.checkpoint_id == second.checkpoint_id  # same bytes, one blob
    assert Blob.objects.count() == 1
    model_promote(model_version=first)
    call_command("model_promote", "unified@v2")
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == "retired" and first.retired_at is not None
    assert second.status == "production" and second.promoted_at is not None
    # rollback: promoting the retired one again
    model_promote(model_version=first)
    assert list(ModelVersion.objects.filter(status="production")) == [first]


def test_register_refuses_what_is_not_a_segmenter_checkpoint(tmp_path):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(CommandError, match="junk.pth"):
        call_command("model_register", "--checkpoint", str(junk), "--name", "x")
    with pytest.raises(CommandError, match="checkpoint not found"):
        call_command("model_register", "--checkpoint", str(tmp_path / "missing.pth"), "--name", "x")
    assert not ModelVersion.objects.exists() and not Blob.objects.exists()
    assert_storage_matches_tables()


def test_models_api_lists_and_only_admins_promote(trained, admin_client, viewer_client):
    model = model_register(kind="segmenter", name="unified", checkpoint_path=trained[0] / "best.pth")
    listed = viewer_client.get("/api/models/?kind=segmenter").json()["results"]
    assert [m["id"] for m in listed] == [model.pk] and listed[0]["checkpoint_sha256"] == model.checkpoint_id
    assert viewer_client.post(f"/api/models/{model.pk}/promote").status_code == 403
    response = admin_client.post(f"/api/models/{model.pk}/promote")
    assert response.status_code == 200 and response.json()["status"] == "production"
    assert viewer_client.get("/api/models/?status=bogus").status_code == 400
