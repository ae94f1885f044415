"""mmseg/mmengine's known notices are hidden around Flawmap's own calls, and only there."""

import warnings

from ml.segmentation.config import TINY_CONFIG
from ml.segmentation.library_notices import KNOWN_LOG_MESSAGES, KNOWN_WARNINGS


def _known(caught) -> list[str]:
    return [str(w.message) for w in caught if any(str(w.message).startswith(p) for p, _ in KNOWN_WARNINGS)]


def _build_tiny_model():
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules

    from ml.segmentation.config import load_config

    register_all_modules()
    return MODELS.build(load_config(TINY_CONFIG).model)


def test_the_library_still_warns_outside_our_calls():
    """The control: building the model straight through mmseg warns, so the filter below is what hides it
    and it is not a process-wide filter."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _build_tiny_model()
    assert any(m.startswith("For binary segmentation") for m in _known(caught))


def test_training_and_loading_show_none_of_the_known_notices(tmp_path, synthetic_root, capfd):
    from ml.segmentation.predictor import Predictor
    from ml.segmentation.train import train

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train(config=TINY_CONFIG, data=synthetic_root, work_dir=tmp_path, max_iters=1, device="cpu", seed=0,
              quiet=True)
        Predictor(tmp_path / "best.pth", device="cpu")
    assert _known(caught) == []
    output = "".join(capfd.readouterr())
    for message in KNOWN_LOG_MESSAGES:
        assert message not in output
