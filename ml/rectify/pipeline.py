"""Segment, fix, segment again: the loop the CLI, the benchmark and the backend's fix job share."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .fix import DEFAULT_DILATE, DEFAULT_MIN_SIDE, FixResult, fix_image
from .inpainters import Inpainter


@dataclass
class Rectified:
    fixed: np.ndarray  # RGB uint8
    mask_before: np.ndarray  # segmenter's 0/1 mask of the input
    mask_after: np.ndarray  # segmenter's 0/1 mask of the fixed image
    par_before: float
    par_after: float
    fix: FixResult
    seconds: float  # fixing only (crops + inpainting + pasting), not segmentation


def rectify_images(predictor, images: list[np.ndarray], inpainter: Inpainter, *, mode: str = "zoom",
                   dilate_px: int = DEFAULT_DILATE, min_side: int = DEFAULT_MIN_SIDE) -> list[Rectified]:
    """Fix each RGB uint8 image where `predictor` (an ml.segmentation Predictor) sees artifacts, and measure
    PAR before and after with the same predictor. An image with no predicted artifact is returned as is."""
    before = predictor.predict(images)
    fixes, seconds = [], []
    for image, mask in zip(images, before.masks):
        started = time.perf_counter()
        fixes.append(fix_image(image, mask, inpainter, mode=mode, dilate_px=dilate_px, min_side=min_side))
        seconds.append(time.perf_counter() - started)
    after = predictor.predict([f.image for f in fixes])
    return [
        Rectified(fixed=f.image, mask_before=mb, mask_after=ma, par_before=pb, par_after=pa, fix=f, seconds=s)
        for f, mb, ma, pb, pa, s in zip(fixes, before.masks, after.masks, before.par, after.par, seconds)
    ]
