"""The segmenter as the backend sees it: images in, artifact masks, probability maps and PAR out.

    predictor = Predictor("work/best.pth", device="auto", batch_size=8)
    masks, probabilities, par = predictor.predict([array_or_path, ...])

Works with Flawmap's own checkpoints (weights + config text, from `ml.segmentation.train`) and with
TorchScript models such as PAL4VST's released `end2end.pt` (fixed 512x512 input, argmax output): how their
output is read, and how an argmax-only one still gets probabilities and features, is in `torchscript.py`.
Every image is resized to the model's square inference size, as PAL4VST's inference does, and the result is
resized back.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, NamedTuple, Sequence

import cv2
import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ml.par import perceptual_artifacts_ratio

from . import torchscript
from .checkpoint import CheckpointError, is_torchscript, read_checkpoint, state_dict_of

PAL4VST_MEAN = (123.675, 116.28, 103.53)
PAL4VST_STD = (58.395, 57.12, 57.375)
PAL4VST_SIZE = 512

ImageInput = np.ndarray | str | Path


class ImageReadError(ValueError):
    """An input image that cannot be decoded; the message names it."""


class Predictions(NamedTuple):
    masks: list[np.ndarray]  # uint8 HxW, 0 clean / 1 artifact, each the size of its input image
    # float32 HxW artifact probability (argmax-only models: the share of 4 flipped views marking the pixel)
    probabilities: list[np.ndarray]
    par: list[float]  # artifact area / image area of each mask


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("device cuda requested but no CUDA GPU is available")
    if device != "cpu" and not device.startswith("cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, not {device!r}")
    return torch.device(device)


def read_image(source: ImageInput) -> np.ndarray:
    """RGB uint8 HxWx3 from a path or an array (greyscale and RGBA arrays are converted)."""
    if isinstance(source, np.ndarray):
        array = source
        if array.ndim == 2:
            array = np.stack([array] * 3, axis=-1)
        if array.ndim != 3 or array.shape[2] not in (3, 4) or array.shape[0] == 0 or array.shape[1] == 0:
            raise ImageReadError(f"image array must be HxW, HxWx3 or HxWx4, got shape {source.shape}")
        return np.ascontiguousarray(array[..., :3], dtype=np.uint8)
    path = Path(source)
    try:
        with Image.open(path) as img:
            img.load()
            return np.asarray(img.convert("RGB"))
    except FileNotFoundError as exc:
        raise ImageReadError(f"{path}: file not found") from exc
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageReadError(f"{path}: cannot decode image ({exc})") from exc


@dataclass
class _Model:
    """A network taking a normalised Nx3xSxS batch and giving the Nx S x S artifact probability."""

    module: torch.nn.Module
    size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    scripted: bool
    description: dict
    output: str | None = None  # a TorchScript model's output kind (torchscript.KINDS), known after its first batch

    def run(self, batch: torch.Tensor) -> torchscript.Output:
        """Probability, the model's own labels (argmax-only models) and pooled features (None: the caller makes
        the proxy ones) of a normalised batch."""
        if self.scripted:
            out, self.output = torchscript.run(self.module, batch, self.output)
            return out
        metas = [dict(img_shape=(self.size, self.size), ori_shape=(self.size, self.size),
                      pad_shape=(self.size, self.size))] * batch.shape[0]
        # EncoderDecoder.encode_decode, unrolled to keep the backbone features for active learning.
        features = self.module.extract_feat(batch)
        logits = self.module.decode_head.predict(features, metas, self.module.test_cfg)
        return torchscript.Output(logits.softmax(dim=1)[:, 1], None, features[-1].mean(dim=(2, 3)))


def _load_mmseg(path: Path, device: torch.device, *, trust_config: bool) -> _Model:
    from mmengine.config import Config
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules

    from . import components  # noqa: F401  (registers Flawmap's dataset, metric and hooks)
    from .config import config_check
    from .library_notices import known_warnings_hidden

    checkpoint = read_checkpoint(path)
    meta = checkpoint.get("meta") or {}
    if "cfg" not in meta:
        raise CheckpointError(
            f"{path} carries no config; use a checkpoint written by ml.segmentation.train or a TorchScript end2end.pt"
        )
    if not trust_config:
        # Before parsing: Config.fromstring executes the text.
        config_check(name=meta.get("config_name"), text=str(meta["cfg"]))
    register_all_modules(init_default_scope=True)
    cfg = Config.fromstring(meta["cfg"], file_format=".py")
    model_cfg = cfg.model.copy()
    model_cfg.pop("pretrained", None)
    with known_warnings_hidden():
        model = MODELS.build(model_cfg)
    model.load_state_dict(state_dict_of(checkpoint), strict=True)
    model.to(device).eval()
    pre = cfg.model.data_preprocessor
    return _Model(
        module=model, size=int(cfg.get("inference_size", 512)), mean=tuple(pre.mean), std=tuple(pre.std),
        scripted=False,
        description={"format": "mmseg", "config": meta.get("config_name"), "iter": meta.get("iter")},
    )


def _load_torchscript(path: Path, device: torch.device) -> _Model:
    # Unlike a pickled .pth (read_checkpoint, weights-only), a TorchScript archive holds no pickled Python callables:
    # its code is TorchScript IR that torch interprets, plus tensors. The graph can still call any operator
    # registered in this process (aten ops and custom ops of loaded extensions), so it is no sandbox: import models
    # from sources you trust.
    try:
        module = torch.jit.load(str(path), map_location=device)
    except Exception as exc:  # noqa: BLE001
        raise CheckpointError(f"cannot load TorchScript model {path}: {exc}") from exc
    module.eval()
    return _Model(module=module, size=PAL4VST_SIZE, mean=PAL4VST_MEAN, std=PAL4VST_STD, scripted=True,
                  description={"format": "torchscript"})


class Predictor:
    """`trust_config`: build the model from a config embedded in the checkpoint even when it is not one shipped
    in ml/segmentation/configs/ (it runs as Python); only for checkpoints an admin vouched for."""

    def __init__(self, checkpoint: str | Path, *, device: str = "auto", batch_size: int = 8,
                 trust_config: bool = False) -> None:
        path = Path(checkpoint)
        if not path.is_file():
            raise CheckpointError(f"checkpoint not found: {path}")
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.device = resolve_device(device)
        self.batch_size = batch_size
        self.checkpoint = path
        self._model = (_load_torchscript(path, self.device) if is_torchscript(path)
                       else _load_mmseg(path, self.device, trust_config=trust_config))
        self._mean = torch.tensor(self._model.mean, device=self.device).view(1, 3, 1, 1)
        self._std = torch.tensor(self._model.std, device=self.device).view(1, 3, 1, 1)

    @property
    def inference_size(self) -> int:
        return self._model.size

    @property
    def output(self) -> str:
        """`mmseg`, or a TorchScript model's output kind (torchscript.KINDS); the first call on a TorchScript
        model that has not predicted yet runs it once on a blank image to see."""
        if not self._model.scripted:
            return "mmseg"
        if self._model.output is None:
            self._probabilities([np.zeros((self._model.size, self._model.size, 3), np.uint8)])
        return self._model.output

    @property
    def gives_probabilities(self) -> bool:
        """False for argmax-only models (PAL4VST's TorchScript export): their probabilities are flip votes."""
        return self.output != "labels"

    @property
    def description(self) -> dict:
        output = {"output": self._model.output} if self._model.output else {}
        return {**self._model.description, **output, "inference_size": self._model.size, "device": str(self.device)}

    def _resize_in(self, image: np.ndarray) -> np.ndarray:
        s = self._model.size
        return cv2.resize(image, (s, s), interpolation=cv2.INTER_LINEAR) if image.shape[:2] != (s, s) else image

    @torch.inference_mode()
    def _probabilities(self, images: list[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
        """(probability maps, masks, N x D features), each map the size of its image."""
        pixels = torch.from_numpy(np.stack([self._resize_in(im) for im in images])).to(self.device)
        pixels = pixels.permute(0, 3, 1, 2).float()
        out = self._model.run((pixels - self._mean) / self._std)
        features = out.features
        if features is None:  # a TorchScript model without a feature output: the proxy descriptor
            features = torchscript.proxy_features(out.probability, pixels / 255.0)
        probs = out.probability.float().cpu().numpy()
        labels = None if out.labels is None else out.labels.cpu().numpy().astype(np.uint8)
        prob_maps, masks = [], []
        for i, (image, prob) in enumerate(zip(images, probs)):
            h, w = image.shape[:2]
            if prob.shape != (h, w):
                prob = cv2.resize(prob, (w, h), interpolation=cv2.INTER_LINEAR)
            prob = np.clip(prob, 0.0, 1.0).astype(np.float32)
            if labels is None:
                mask = (prob >= 0.5).astype(np.uint8)
            else:  # the model's own answer, not the vote: TTA only measures how sure it is
                mask = labels[i] if labels[i].shape == (h, w) else cv2.resize(labels[i], (w, h),
                                                                              interpolation=cv2.INTER_NEAREST)
            prob_maps.append(prob)
            masks.append(mask)
        return prob_maps, masks, features.float().cpu().numpy()

    def iter_predict(self, images: Sequence[ImageInput]) -> Iterator[tuple[np.ndarray, np.ndarray, float]]:
        """(mask, probability, par) per image, batch by batch. Raises ImageReadError naming a bad image."""
        for mask, prob, par, _ in self.iter_analyze(images):
            yield mask, prob, par

    def iter_analyze(self, images: Sequence[ImageInput]):
        """(mask, probability, par, features) per image; features (for diversity sampling) are the pooled
        deepest backbone map, a TorchScript model's feature output, or torchscript.proxy_features."""
        for start in range(0, len(images), self.batch_size):
            decoded = [read_image(src) for src in images[start : start + self.batch_size]]
            probs, masks, features = self._probabilities(decoded)
            for mask, prob, feature in zip(masks, probs, features):
                yield mask, prob, perceptual_artifacts_ratio(mask), feature

    def predict(self, images: Sequence[ImageInput]) -> Predictions:
        masks, probs, pars = [], [], []
        for mask, prob, par in self.iter_predict(images):
            masks.append(mask)
            probs.append(prob)
            pars.append(par)
        return Predictions(masks, probs, pars)
