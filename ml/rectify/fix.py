"""Fix artifacts by inpainting what a mask marks, zoomed in per artifact (PAL4VST) or on the whole image.

Zoom mode: the mask is dilated (the segmenter's masks hug the artifact; inpainting needs a margin of clean
context to blend into), split into connected components, and each component gets a square crop 1.5x its
longest axis. The crop is resized to the inpainter's working size, inpainted, resized back, and pasted
only over that component's pixels. A small artifact thus gets the inpainter's full resolution, instead of
a few pixels of a downscaled whole image. Whole mode inpaints the image at the working size in one go (the
naive baseline). In both modes the paste weight is zero outside the dilated mask, so no other pixel
changes, and ramps up over `feather` pixels from its edge so the seam doesn't show.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from .components import CROP_SCALE, Crop, connected_components, crop_around, dilate
from .inpainters import Inpainter

MODES = ("zoom", "whole")
DEFAULT_DILATE = 8
# Below this a crop has too little context for the inpainter to continue textures from.
DEFAULT_MIN_SIDE = 32


@dataclass
class FixResult:
    image: np.ndarray  # the fixed RGB uint8 image, the input's size
    region: np.ndarray  # 0/1 dilated mask: the only pixels that may differ from the input
    components: int = 0  # connected components of the region
    crops: list[Crop] = field(default_factory=list)  # zoom mode: one per component
    fallback_pixels: int = 0  # zoom mode: region pixels no crop could hold, inpainted at whole-image scale


def feather_weights(region: np.ndarray, feather: int) -> np.ndarray:
    """Per-pixel paste weight: exactly 0 outside the region, rising from 1/feather at its edge to 1 at
    `feather` pixels inside. With feather <= the dilation, the original mask itself gets weight 1."""
    region = (region != 0).astype(np.uint8)
    if not region.any():
        return np.zeros(region.shape, np.float32)
    # Distance to the nearest pixel outside the region: 0 outside, >= 1 inside.
    distance = cv2.distanceTransform(region, cv2.DIST_L2, 5)
    return np.clip(distance / max(1, feather), 0.0, 1.0).astype(np.float32) * region


def paste(base: np.ndarray, patch: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Blend patch over base by weights; pixels with weight 0 are copied from base bit for bit."""
    w = weights[..., None]
    blended = np.rint(w * patch.astype(np.float32) + (1.0 - w) * base.astype(np.float32))
    return np.where(w > 0, np.clip(blended, 0, 255).astype(np.uint8), base)


def inpaint_resized(inpainter: Inpainter, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Inpaint at the inpainter's square working size and return the result at the image's own size."""
    h, w = image.shape[:2]
    size = inpainter.working_size
    if (h, w) == (size, size):
        return inpainter.inpaint(image, (mask != 0).astype(np.uint8))
    shrinking = h * w > size * size
    work = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)
    # Any coverage counts as masked, so thin artifact strokes survive a downscale.
    work_mask = cv2.resize((mask != 0).astype(np.float32), (size, size),
                           interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR) > 0
    filled = inpainter.inpaint(work, work_mask.astype(np.uint8))
    return cv2.resize(filled, (w, h), interpolation=cv2.INTER_CUBIC if shrinking else cv2.INTER_AREA)


def fix_image(image: np.ndarray, mask: np.ndarray, inpainter: Inpainter, *, mode: str = "zoom",
              dilate_px: int = DEFAULT_DILATE, feather: int | None = None, scale: float = CROP_SCALE,
              min_side: int = DEFAULT_MIN_SIDE) -> FixResult:
    """Inpaint the pixels `mask` marks (dilated by dilate_px). image: RGB uint8 HxWx3; mask: HxW, non-zero =
    artifact. feather defaults to the dilation, so the blend ramp lies in the added margin."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    if mask.shape != image.shape[:2]:
        raise ValueError(f"mask is {mask.shape[1]}x{mask.shape[0]} but the image is {image.shape[1]}x{image.shape[0]}")
    region = dilate(mask, dilate_px)
    result = FixResult(image=image.copy(), region=region)
    if not region.any():
        return result
    weights = feather_weights(region, dilate_px if feather is None else feather)
    labels, components = connected_components(region)
    result.components = len(components)
    if mode == "whole":
        result.image = paste(image, inpaint_resized(inpainter, image, region), weights)
        return result

    height, width = region.shape
    pasted = np.zeros(region.shape, bool)
    for component in components:
        crop = crop_around(component, height=height, width=width, scale=scale, min_side=min_side)
        window = crop.slices
        # Every region pixel in the crop is unknown to the inpainter (a neighbour's artifact is no context),
        # but only this component's pixels are pasted: each pixel comes from its own component's crop.
        patch = inpaint_resized(inpainter, result.image[window], region[window])
        own = labels[window] == component.label
        result.image[window] = paste(result.image[window], patch, weights[window] * own)
        pasted[window] |= own
        result.crops.append(crop)
    # A component longer than the image's short side doesn't fit in its square crop; its remainder gets the
    # whole-image treatment rather than staying broken.
    leftover = (region != 0) & ~pasted
    if leftover.any():
        result.fallback_pixels = int(leftover.sum())
        result.image = paste(result.image, inpaint_resized(inpainter, result.image, region), weights * leftover)
    return result
