"""PAL4VST's artifact segmenter (Swin-T/UperNet in mmsegmentation) and its CPU-sized sibling.

Entry points: `python -m ml.segmentation.{train,predict,evaluate}` and `Predictor` for the backend.
Importing this package stays cheap; torch and mmseg load when a submodule is used.
"""

__all__ = ["Predictor", "Predictions", "train"]


def __getattr__(name):
    if name in ("Predictor", "Predictions"):
        from . import predictor

        return getattr(predictor, name)
    if name == "train":
        from .train import train

        return train
    raise AttributeError(name)
