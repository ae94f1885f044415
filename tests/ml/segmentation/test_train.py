import json

import torch

from ml.segmentation.config import TINY_CONFIG


def test_one_iteration_writes_a_self_contained_best_checkpoint_and_metrics(trained):
    work_dir, metrics = trained
    assert json.loads((work_dir / "metrics.json").read_text()) == metrics
    assert metrics["config"] == TINY_CONFIG and metrics["max_iters"] == 1 and metrics["best_iter"] == 1
    val = metrics["val"]
    assert val["split"] == "val" and val["images"] == 2
    assert 0.0 <= val["mIoU"] <= 1.0
    # Slim: loads with the safe unpickler, carries the config text, no optimizer state.
    checkpoint = torch.load(work_dir / "best.pth", weights_only=True)
    assert "UPerHead" in checkpoint["meta"]["cfg"] and "optimizer" not in checkpoint
    assert not list(work_dir.glob("best_artifact_IoU_iter_*.pth"))


def test_train_cli_names_a_missing_split(tmp_path, capsys, synthetic_root):
    from ml.segmentation.train import main

    data = tmp_path / "data"
    (data / "images" / "train").mkdir(parents=True)
    code = main(["--config", TINY_CONFIG, "--data", str(data), "--work-dir", str(tmp_path / "w"), "--device", "cpu"])
    assert code == 2
    assert "images/train" in capsys.readouterr().err


def test_init_loads_matching_weights_and_skips_the_rest(trained):
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules

    from ml.segmentation.checkpoint import load_matching_weights, read_checkpoint, state_dict_of
    from ml.segmentation.config import load_config

    register_all_modules()
    cfg = load_config(TINY_CONFIG)
    cfg.model.decode_head.num_classes = 3  # e.g. a checkpoint from another label set
    model = MODELS.build(cfg.model)
    state = state_dict_of(read_checkpoint(trained[0] / "best.pth"))
    report = load_matching_weights(model, state)
    assert "decode_head.conv_seg.weight" in report["mismatched"]
    name = "backbone.stem.0.weight"
    assert name in report["loaded"] and torch.equal(model.state_dict()[name], state[name])


def test_two_trainings_in_one_process_do_not_share_a_run(tmp_path, synthetic_root):
    """The backend trains again and again in one worker and removes each run's folder afterwards."""
    import shutil

    from ml.segmentation.train import train

    for run in ("first", "second"):
        metrics = train(config=TINY_CONFIG, data=synthetic_root, work_dir=tmp_path / run, max_iters=1, device="cpu",
                        quiet=True)
        assert metrics["best_iter"] == 1
        shutil.rmtree(tmp_path / run)
