import pytest

from ml.segmentation.config import PAPER_CONFIG, TINY_CONFIG, ConfigError, configure_training, load_config


def test_paper_config_is_the_pal4vst_recipe():
    cfg = load_config(PAPER_CONFIG)
    assert cfg.model.backbone.type == "SwinTransformer"
    assert cfg.model.backbone.depths == [2, 2, 6, 2] and cfg.model.backbone.embed_dims == 96
    assert cfg.model.decode_head.type == "UPerHead" and cfg.model.auxiliary_head.type == "FCNHead"
    assert cfg.model.decode_head.num_classes == 2
    opt = cfg.optim_wrapper.optimizer
    assert (opt.type, opt.lr, tuple(opt.betas), opt.weight_decay) == ("AdamW", 6e-5, (0.9, 0.999), 0.01)
    assert [s.type for s in cfg.param_scheduler] == ["LinearLR", "PolyLR"]
    assert cfg.crop_size == (512, 512)
    assert {"RandomResize", "RandomCrop", "RandomFlip"} <= {t["type"] for t in cfg.train_pipeline}


def test_tiny_config_is_the_same_family_at_256():
    cfg = load_config(TINY_CONFIG)
    assert cfg.model.decode_head.type == "UPerHead" and cfg.model.auxiliary_head.type == "FCNHead"
    assert cfg.crop_size == (256, 256) and cfg.inference_size == 256


def test_short_runs_compress_the_schedule(tmp_path):
    cfg = configure_training(load_config(PAPER_CONFIG), data_root=tmp_path, work_dir=tmp_path / "w", max_iters=200)
    warmup, poly = cfg.param_scheduler
    assert warmup.end == 15 and poly.begin == 15 and poly.end == 200
    assert cfg.train_cfg.max_iters == 200 and cfg.train_cfg.val_interval == 200
    assert cfg.train_dataloader.dataset.data_root == str(tmp_path)


def test_unknown_config_names_the_known_ones():
    with pytest.raises(ConfigError, match=TINY_CONFIG):
        load_config("no_such_config")


def test_a_crop_override_changes_training_samples_only(tmp_path):
    cfg = configure_training(load_config(PAPER_CONFIG), data_root=tmp_path, work_dir=tmp_path / "w", crop=128,
                             batch_size=2, workers=0)
    crops = [t for t in cfg.train_dataloader.dataset.pipeline if t["type"] == "RandomCrop"]
    assert [tuple(t["crop_size"]) for t in crops] == [(128, 128)]
    assert tuple(cfg.model.data_preprocessor.size) == (128, 128)  # training batches are padded to the crop
    assert cfg.train_dataloader.batch_size == 2
    assert all(cfg[f"{s}_dataloader"].num_workers == 0 and not cfg[f"{s}_dataloader"].persistent_workers
               for s in ("train", "val", "test"))
    # inference is untouched: the test pipeline still resizes to the config's inference size
    assert cfg.inference_size == 512 and {"type": "Resize", "scale": (512, 512), "keep_ratio": False} in [
        {k: t[k] for k in ("type", "scale", "keep_ratio")} for t in cfg.val_dataloader.dataset.pipeline
        if t["type"] == "Resize"]
    for bad in (100, 32, 4096):
        with pytest.raises(ConfigError, match="multiple of 32"):
            configure_training(load_config(PAPER_CONFIG), data_root=tmp_path, work_dir=tmp_path / "w", crop=bad)
    with pytest.raises(ConfigError, match="batch_size"):
        configure_training(load_config(PAPER_CONFIG), data_root=tmp_path, work_dir=tmp_path / "w", batch_size=0)
