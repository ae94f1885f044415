"""Artifact fixing (PAL4VST's rectification): inpaint what the segmenter marks, zoomed in per artifact.

    from ml.rectify import fix_image, inpainter_create
    result = fix_image(rgb, mask, inpainter_create("opencv-telea"), mode="zoom", dilate_px=8)

CLI: python -m ml.rectify --checkpoint SEG --input DIR --output DIR [--mode zoom|whole] [--backend ...]
"""

from .components import CROP_SCALE, Component, Crop, connected_components, crop_around, dilate, flagged_regions
from .fix import DEFAULT_DILATE, MODES, FixResult, feather_weights, fix_image
from .inpainters import (
    DEFAULT_BACKEND,
    INPAINTERS,
    InpainterUnavailable,
    backend_name,
    inpainter_check,
    inpainter_create,
)
from .pipeline import Rectified, rectify_images

__all__ = [
    "CROP_SCALE", "Component", "Crop", "connected_components", "crop_around", "dilate", "flagged_regions",
    "DEFAULT_DILATE", "MODES", "FixResult", "feather_weights", "fix_image",
    "DEFAULT_BACKEND", "INPAINTERS", "InpainterUnavailable", "backend_name", "inpainter_check", "inpainter_create",
    "Rectified", "rectify_images",
]
