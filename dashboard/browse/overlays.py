"""How a pass is drawn over its image: its mask as a tinted, transparent PNG, and its boxes as positioned
elements (percentages of the image, so they follow the picture at any displayed size)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

# Tints by index (RGB); a pass keeps its index on a page, so its mask, its boxes and its toggle share a colour.
TINTS = ((229, 57, 53), (30, 136, 229), (67, 160, 71), (251, 140, 0), (142, 36, 170), (0, 172, 193),
         (216, 27, 96), (124, 179, 66))
ALPHA = 140  # of 255: the image stays visible under the mask


def tint_hex(index: int) -> str:
    r, g, b = TINTS[index % len(TINTS)]
    return f"#{r:02x}{g:02x}{b:02x}"


def overlay_png(mask_png: bytes, *, tint: int) -> bytes:
    """The canonical 0/1 mask as RGBA: artifact pixels in the tint, the rest fully transparent."""
    with Image.open(io.BytesIO(mask_png)) as decoded:
        artifact = np.asarray(decoded) != 0  # palette indices: 0 clean, 1 artifact
    rgba = np.zeros((*artifact.shape, 4), dtype=np.uint8)
    rgba[artifact] = (*TINTS[tint % len(TINTS)], ALPHA)
    buf = io.BytesIO()
    Image.fromarray(rgba, mode="RGBA").save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def box_style(bbox, *, width: int, height: int) -> str:
    """CSS placing an [x1, y1, x2, y2] pixel box over an image shown at any size."""
    x1, y1, x2, y2 = bbox
    return (f"left:{100 * x1 / width:.3f}%;top:{100 * y1 / height:.3f}%;"
            f"width:{100 * (x2 - x1) / width:.3f}%;height:{100 * (y2 - y1) / height:.3f}%")
