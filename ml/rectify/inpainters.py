"""Inpainting backends behind one small interface, found by name in INPAINTERS.

An inpainter takes a square RGB uint8 image of its `working_size` and a 0/1 mask of the same size, and
returns the image with the masked pixels filled. The caller (ml.rectify.fix) does all resizing, cropping
and pasting, so a backend only inpaints.

    inpainter = inpainter_create("opencv-telea")              # embedded default, no model
    inpainter = inpainter_create("diffusers-sd", model_path="/models/sd-inpainting", device="cuda")
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Callable, Protocol

import cv2
import numpy as np

DEFAULT_BACKEND = "opencv-telea"
DEFAULT_WORKING_SIZE = 512


class InpainterUnavailable(RuntimeError):
    """The backend can't run here (unknown name, library not installed, no local model); the message says why."""


class Inpainter(Protocol):
    name: str
    working_size: int

    def inpaint(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray: ...


class OpenCVInpainter:
    """cv2.inpaint: Telea's fast marching method or Navier-Stokes. Fast, CPU-only, smooth fills."""

    def __init__(self, method: str = "telea", *, working_size: int = DEFAULT_WORKING_SIZE, radius: int = 5):
        flags = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}
        if method not in flags:
            raise InpainterUnavailable(f"OpenCV inpainting method must be telea or ns, not {method!r}")
        self.name = f"opencv-{method}"
        self.working_size = working_size
        self._flags = flags[method]
        # The radius is in working-size pixels; a crop is usually upscaled to the working size first.
        self._radius = radius

    def inpaint(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return cv2.inpaint(np.ascontiguousarray(image), (mask != 0).astype(np.uint8), self._radius, self._flags)


def diffusers_check(model_path: str | Path | None) -> None:
    """Raise InpainterUnavailable unless a local diffusers model folder and the diffusers package are there.
    Cheap (loads nothing), so an API can refuse a request before queueing a job that would fail."""
    if not model_path:
        raise InpainterUnavailable(
            "the diffusers-sd backend needs a local Stable Diffusion inpainting model folder "
            "(--inpaint-model or FLAWMAP_DIFFUSERS_INPAINT_MODEL); nothing is downloaded"
        )
    if not (Path(model_path) / "model_index.json").is_file():
        raise InpainterUnavailable(f"{model_path} is not a diffusers model folder (no model_index.json)")
    if importlib.util.find_spec("diffusers") is None:
        raise InpainterUnavailable("the diffusers-sd backend needs the diffusers package, which is not installed")


class DiffusersInpainter:
    """Stable Diffusion inpainting from a local diffusers model folder; never downloads anything.

    diffusers is imported here only, and is not a Flawmap requirement: install it (and a model) yourself.
    """

    def __init__(self, model_path: str | Path | None = None, *, device: str = "auto", prompt: str = "",
                 steps: int = 30, guidance_scale: float = 7.5, seed: int = 0,
                 working_size: int = DEFAULT_WORKING_SIZE):
        diffusers_check(model_path)
        if working_size % 8:
            raise InpainterUnavailable(f"Stable Diffusion needs a working size divisible by 8, not {working_size}")
        path = Path(model_path)
        # Belt and braces: even a misconfigured path must not make the hub fetch weights.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            import torch
            from diffusers import StableDiffusionInpaintPipeline
        except ImportError as exc:
            raise InpainterUnavailable(
                f"the diffusers-sd backend needs the diffusers package, which is not installed ({exc})"
            ) from exc
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = torch.float16 if device.startswith("cuda") else torch.float32
        self._pipe = StableDiffusionInpaintPipeline.from_pretrained(str(path), torch_dtype=dtype,
                                                                    local_files_only=True).to(device)
        self._pipe.set_progress_bar_config(disable=True)
        self._torch, self._device = torch, device
        self.name = "diffusers-sd"
        self.working_size = working_size
        self.prompt, self.steps, self.guidance_scale, self.seed = prompt, steps, guidance_scale, seed

    def inpaint(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        from PIL import Image

        generator = self._torch.Generator(device=self._device).manual_seed(self.seed)
        mask_image = Image.fromarray((mask != 0).astype(np.uint8) * 255)
        out = self._pipe(
            prompt=self.prompt, image=Image.fromarray(image), mask_image=mask_image,
            height=image.shape[0], width=image.shape[1], num_inference_steps=self.steps,
            guidance_scale=self.guidance_scale, generator=generator,
        ).images[0]
        return np.asarray(out.convert("RGB"))


def _opencv(method: str) -> Callable[..., Inpainter]:
    def make(*, working_size: int = DEFAULT_WORKING_SIZE, radius: int = 5, **_other) -> Inpainter:
        return OpenCVInpainter(method, working_size=working_size, radius=radius)

    return make


def _diffusers(*, model_path=None, device: str = "auto", prompt: str = "", steps: int = 30, seed: int = 0,
               working_size: int = DEFAULT_WORKING_SIZE, **_other) -> Inpainter:
    return DiffusersInpainter(model_path, device=device, prompt=prompt, steps=steps, seed=seed,
                              working_size=working_size)


# Factories take keyword options and ignore the ones they don't use (model_path means nothing to OpenCV),
# so callers pass one set of settings whatever the backend.
INPAINTERS: dict[str, Callable[..., Inpainter]] = {
    "opencv-telea": _opencv("telea"),
    "opencv-ns": _opencv("ns"),
    "diffusers-sd": _diffusers,
}
# Short names people type.
ALIASES = {"opencv": "opencv-telea", "telea": "opencv-telea", "ns": "opencv-ns", "diffusers": "diffusers-sd"}


def backend_name(name: str) -> str:
    """The registry name for a backend name or alias; InpainterUnavailable for an unknown one."""
    resolved = ALIASES.get(name, name)
    if resolved not in INPAINTERS:
        known = ", ".join(sorted(INPAINTERS) + sorted(ALIASES))
        raise InpainterUnavailable(f"unknown inpainting backend {name!r}; known: {known}")
    return resolved


def inpainter_check(name: str, *, model_path: str | Path | None = None) -> str:
    """The registry name if the backend can be built here, else InpainterUnavailable (nothing is loaded)."""
    resolved = backend_name(name)
    if resolved == "diffusers-sd":
        diffusers_check(model_path)
    return resolved


def inpainter_create(name: str = DEFAULT_BACKEND, **options) -> Inpainter:
    """Build a backend by name or alias; options set to None take the backend's defaults."""
    return INPAINTERS[backend_name(name)](**{k: v for k, v in options.items() if v is not None})
