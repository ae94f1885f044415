"""The paper config (Swin-T + UperNet + FCN aux) trains: 2 CPU iterations at a small crop from random weights give a
checkpoint that loads weights-only, passes the shipped-config check, serves through the Predictor and registers
and scores on a benchmark without --trust-config. Training takes about a minute and ~3 GB peak RSS on 2 free cores
(most of it predicting the val images at the config's 512² inference size)."""


import numpy as np
import pytest
import torch

from ml.segmentation.checkpoint import read_checkpoint, state_dict_of
from ml.segmentation.config import (
    CONFIG_DIR,
    PAPER_CONFIG,
    ConfigError,
    config_check,
    config_fingerprint,
    config_text,
)

CROP, BATCH = 128, 2  # batch 2: UperNet's 1x1 pooling branch has BatchNorm, which needs 2 values per channel


@pytest.fixture(scope="session")  # not module: pytest-django runs the django_db test out of file order
def paper_trained(tmp_path_factory, synthetic_root):
    from ml.segmentation.train import train

    work_dir = tmp_path_factory.mktemp("paper")
    metrics = train(config=PAPER_CONFIG, data=synthetic_root, work_dir=work_dir, max_iters=2, device="cpu", seed=0,
                    crop=CROP, batch_size=BATCH, workers=0, from_scratch=True, quiet=True)
    return work_dir, metrics


def test_two_iterations_write_a_weights_only_checkpoint_of_the_shipped_config(paper_trained):
    work_dir, metrics = paper_trained
    assert metrics["config"] == PAPER_CONFIG and metrics["max_iters"] == 2 and metrics["best_iter"] == 2
    assert metrics["val"]["images"] == 2 and 0.0 <= metrics["val"]["mIoU"] <= 1.0
    checkpoint = read_checkpoint(work_dir / "best.pth")  # torch's weights-only unpickler, nothing else
    meta = checkpoint["meta"]
    assert set(checkpoint) == {"state_dict", "meta"}
    assert any(k.startswith("backbone.stages.2.blocks.5.") for k in state_dict_of(checkpoint))  # Swin-T's 6 blocks
    # The embedded text is the shipped file's, not the run's crop/batch copy: the check accepts it as it is.
    expected = config_fingerprint(config_text(CONFIG_DIR / f"{PAPER_CONFIG}.py"))
    assert config_check(name=meta["config_name"], text=meta["cfg"]) == expected
    assert meta["training"] == {"max_iters": 2, "seed": 0, "crop": CROP, "batch_size": BATCH, "processes": 1,
                                "init": False, "from_scratch": True}


def test_the_predictor_serves_it_at_the_config_inference_size_for_any_image_size(paper_trained):
    from ml.segmentation.predictor import Predictor

    predictor = Predictor(paper_trained[0] / "best.pth", device="cpu")  # not trusted: checked against the file
    assert predictor.inference_size == 512 and predictor.gives_probabilities
    image = np.random.default_rng(0).integers(0, 256, (90, 150, 3), dtype=np.uint8)
    [mask], [prob], [par] = predictor.predict([image])
    assert mask.shape == prob.shape == (90, 150) and mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 1}
    assert 0.0 <= prob.min() and prob.max() <= 1.0 and 0.0 <= par <= 1.0


@pytest.mark.django_db
def test_it_registers_without_trust_and_is_scored_on_a_benchmark(paper_trained, blob_dir, settings, tmp_path,
                                                                  annotator_user):
    from backend.mlmodels.services import model_register
    from datasets.benchmarks import benchmark_create, model_benchmarks_score
    from tests.datasets.helpers import labelled_image, seeds_in_split

    settings.FLAWMAP_MODEL_CACHE_DIR = str(tmp_path / "cache")
    settings.FLAWMAP_ML_DEVICE = "cpu"
    for seed in seeds_in_split("test", 2, size=(40, 24)):
        labelled_image(annotator_user, seed=seed, size=(40, 24), rows=6)
    benchmark = benchmark_create(scope="global", min_images=2)
    work_dir, metrics = paper_trained
    model = model_register(kind="segmenter", name="paper", checkpoint_path=work_dir / "best.pth")
    assert model.config_name == PAPER_CONFIG and not model.config_trusted and model.metrics == metrics
    [score] = model_benchmarks_score(model_version=model)  # predicts through backend's segmenter_predictor
    assert score.benchmark == benchmark and score.metrics["n_images"] == 2 and len(score.items) == 2
    assert 0.0 <= score.metrics["iou"] <= 1.0 and list(score.metrics["per_task"]) == ["text_to_image"]


def test_the_paper_config_refuses_random_weights_unless_asked(tmp_path, synthetic_root, capsys):
    from ml.segmentation.train import main, train

    with pytest.raises(ConfigError, match="--from-scratch"):
        train(config=PAPER_CONFIG, data=synthetic_root, work_dir=tmp_path / "w", max_iters=1, device="cpu")
    code = main(["--config", PAPER_CONFIG, "--data", str(synthetic_root), "--work-dir", str(tmp_path / "w"),
                 "--device", "cpu", "--max-iters", "1", "--init", str(tmp_path / "ade20k.pth")])
    assert code == 2 and "--init checkpoint not found" in capsys.readouterr().err
    code = main(["--config", PAPER_CONFIG, "--data", str(synthetic_root), "--work-dir", str(tmp_path / "w"),
                 "--device", "cpu", "--crop", "100", "--from-scratch"])
    assert code == 2 and "crop must be a multiple of 32" in capsys.readouterr().err
    assert not (tmp_path / "w").exists()  # refused before anything was built or written


def test_a_small_crop_does_not_change_the_network(paper_trained):
    """What makes the shipped config's text enough to serve a small-crop run: the same weights, shape for shape."""
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules

    from ml.segmentation.config import load_config

    register_all_modules()
    cfg = load_config(PAPER_CONFIG)
    cfg.model.pop("pretrained", None)
    shipped = MODELS.build(cfg.model).state_dict()
    trained = state_dict_of(read_checkpoint(paper_trained[0] / "best.pth"))
    assert {k: tuple(v.shape) for k, v in shipped.items()} == {k: tuple(v.shape) for k, v in trained.items()}
    assert all(torch.isfinite(v).all() for v in trained.values() if v.is_floating_point())
