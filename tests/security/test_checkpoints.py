"""Checkpoints never run code: a pickle is loaded weights-only with no fallback, and a segmenter config embedded
in a checkpoint (Python that mmengine executes) is used only when it is a config shipped in
ml/segmentation/configs/ (same name, same content) or an admin registered it with `--trust-config`."""

import builtins

import pytest
import torch
from django.core.management import CommandError, call_command

from backend.core.blobs import atomic_with_blobs, blob_store, storage_keys
from backend.core.models import Blob
from backend.mlmodels.models import ModelVersion
from backend.mlmodels.predictors import segmenter_predictor
from ml.segmentation.checkpoint import CheckpointError, UntrustedConfigError, read_checkpoint
from ml.segmentation.predictor import Predictor

pytestmark = pytest.mark.django_db


class WritesMarker:
    """Unpickling this calls `exec`, which writes the marker file: what a hostile checkpoint would do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return builtins.exec, (f"open({self.marker!r}, 'w').write('ran')",)


def _variant(trained, path, *, meta=None, extra=None):
    """The trained checkpoint saved again at `path` with its meta changed and extra top-level entries."""
    checkpoint = torch.load(trained[0] / "best.pth", weights_only=True)
    checkpoint["meta"] = {**checkpoint["meta"], **(meta or {})}
    checkpoint.update(extra or {})
    torch.save(checkpoint, path)
    return path


@pytest.fixture
def hostile(trained, tmp_path):
    """A real checkpoint with one more entry whose unpickling writes `marker`."""
    marker = tmp_path / "marker"
    return _variant(trained, tmp_path / "hostile.pth", extra={"payload": WritesMarker(marker)}), marker


def _nothing_stored(blob_dir):
    assert ModelVersion.objects.count() == 0 and Blob.objects.count() == 0
    assert storage_keys() == set()


def test_the_hostile_checkpoint_really_runs_code_under_a_full_load(hostile, tmp_path):
    """The control: without the weights-only loader this file runs its payload, so the refusals below matter."""
    path, marker = hostile
    torch.load(path, weights_only=False)
    assert marker.read_text() == "ran"


def test_register_cli_refuses_a_checkpoint_that_would_run_code(hostile, blob_dir):
    path, marker = hostile
    with pytest.raises(CommandError) as refused:
        call_command("model_register", "--checkpoint", str(path), "--name", "evil", "--trust-config")
    message = str(refused.value)
    assert str(path) in message and "refusing checkpoint" in message
    assert "GLOBAL exec was not an allowed global" in message  # names what it would have called
    assert not marker.exists()
    _nothing_stored(blob_dir)


def test_predict_and_load_paths_refuse_a_checkpoint_that_would_run_code(hostile, tmp_path, settings, capsys):
    from ml.segmentation.predict import main as predict_main

    path, marker = hostile
    with pytest.raises(CheckpointError, match="refusing checkpoint"):
        read_checkpoint(path)
    with pytest.raises(CheckpointError, match="could run code"):
        Predictor(path, device="cpu", trust_config=True)  # trusting the config does not trust the pickle
    images = tmp_path / "images"
    images.mkdir()
    assert predict_main(["--checkpoint", str(path), "--input", str(images), "--output", str(tmp_path / "out"),
                         "--device", "cpu"]) == 2
    assert "refusing checkpoint" in capsys.readouterr().err
    # A registry row whose blob was swapped behind the registration's back: the worker's load refuses it too.
    settings.FLAWMAP_MODEL_CACHE_DIR = str(tmp_path / "cache")
    with atomic_with_blobs():
        blob = blob_store(data=path.read_bytes(), content_type="application/octet-stream")
        model = ModelVersion.objects.create(kind="segmenter", name="swapped", version="v1", checkpoint=blob,
                                            config_trusted=True)
    with pytest.raises(CheckpointError, match="refusing checkpoint"):
        segmenter_predictor(model, device="cpu")
    assert not marker.exists()


def test_a_shipped_config_registers_without_trust_and_serves(trained, settings, tmp_path):
    settings.FLAWMAP_MODEL_CACHE_DIR = str(tmp_path / "cache")
    call_command("model_register", "--checkpoint", str(trained[0] / "best.pth"), "--name", "plain")
    model = ModelVersion.objects.get()
    assert model.config_name == trained[1]["config"] and model.config_trusted is False
    assert segmenter_predictor(model, device="cpu").inference_size == 256


def test_a_config_that_differs_from_the_shipped_one_is_refused_naming_it(trained, tmp_path, blob_dir):
    marker = tmp_path / "config-marker"
    config = torch.load(trained[0] / "best.pth", weights_only=True)["meta"]["cfg"]
    code = f"{config}\nimport os\n_ = open({str(marker)!r}, 'w').write('ran')\n"
    path = _variant(trained, tmp_path / "edited.pth", meta={"cfg": code})
    name = trained[1]["config"]

    with pytest.raises(CommandError) as refused:
        call_command("model_register", "--checkpoint", str(path), "--name", "edited")
    assert f"embedded config {name!r} differs from ml/segmentation/configs/{name}.py" in str(refused.value)
    assert "--trust-config" in str(refused.value)
    _nothing_stored(blob_dir)
    with pytest.raises(UntrustedConfigError, match="differs from"):
        Predictor(path, device="cpu")
    assert not marker.exists()


def test_a_config_name_not_shipped_is_refused(trained, tmp_path, blob_dir):
    path = _variant(trained, tmp_path / "renamed.pth", meta={"config_name": "../../../tmp/mine"})
    with pytest.raises(CommandError, match=r"embedded config '../../../tmp/mine' is not one shipped"):
        call_command("model_register", "--checkpoint", str(path), "--name", "renamed")
    _nothing_stored(blob_dir)


def test_trust_config_admits_a_foreign_config_and_is_recorded(trained, tmp_path, settings):
    """An admin's `--trust-config` lets a config in that is not shipped; the version says so and its
    predictor builds from that config. The candidate-training and API paths never pass it."""
    settings.FLAWMAP_MODEL_CACHE_DIR = str(tmp_path / "cache")
    config = torch.load(trained[0] / "best.pth", weights_only=True)["meta"]["cfg"]
    path = _variant(trained, tmp_path / "tuned.pth",
                    meta={"config_name": "my-tuned-r18", "cfg": f"{config}\nnote = 'tuned by hand'\n"})
    with pytest.raises(CommandError, match="not one shipped"):
        call_command("model_register", "--checkpoint", str(path), "--name", "tuned")
    call_command("model_register", "--checkpoint", str(path), "--name", "tuned", "--trust-config")
    model = ModelVersion.objects.get()
    assert model.config_trusted is True and model.config_name == "my-tuned-r18"
    assert segmenter_predictor(model, device="cpu").description["config"] == "my-tuned-r18"
    with pytest.raises(UntrustedConfigError):
        Predictor(path, device="cpu")  # outside the registry, no one vouched for it
