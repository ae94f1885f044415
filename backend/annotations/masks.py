"""Turns an uploaded mask file into Flawmap's canonical form: a 0/1 palette PNG.

Pixel values are 0 (clean) and 1 (artifact), exactly what PAL4VST / mmsegmentation labels hold, so a
`pal4vst` export copies mask files byte for byte; the palette shows them black and white in any viewer.
"""

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

from backend.images.validation import Rejected
from ml.par import perceptual_artifacts_ratio

# Accepted encodings of "binary": PAL4VST labels use 0/1, most tools 0/255.
_BINARY_VALUE_SETS = ({0, 1}, {0, 255})
_PALETTE = [0, 0, 0, 255, 255, 255]


@dataclass(frozen=True)
class CanonicalMask:
    png: bytes
    width: int
    height: int
    artifact_pixels: int
    par: float


def mask_array_to_canonical(mask: np.ndarray) -> CanonicalMask:
    """Encode a boolean / 0-1 array as the canonical PNG."""
    binary = np.asarray(mask) != 0
    buf = io.BytesIO()
    image = Image.fromarray(binary.astype(np.uint8), mode="P")
    image.putpalette(_PALETTE)
    # Fixed encoder settings: the same mask always gives the same bytes (and blob).
    image.save(buf, format="PNG", compress_level=6)
    height, width = binary.shape
    return CanonicalMask(
        png=buf.getvalue(), width=width, height=height,
        artifact_pixels=int(np.count_nonzero(binary)), par=perceptual_artifacts_ratio(binary),
    )


def mask_decode(data: bytes, *, width: int, height: int) -> np.ndarray:
    """Decode and check a mask file against its image; returns a boolean array (True = artifact)."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.size != (width, height):
                raise Rejected(f"mask is {im.size[0]}x{im.size[1]} but its image is {width}x{height}")
            im.load()
            if im.mode == "1":
                return np.asarray(im, dtype=bool)
            arr = np.asarray(im)
    except Rejected:
        raise
    except UnidentifiedImageError as exc:
        raise Rejected("mask is not an image (unrecognised file format)") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise Rejected(f"mask has truncated or corrupt image data: {exc}") from exc
    if arr.ndim == 3:
        if arr.shape[2] == 4:
            arr = arr[:, :, :3]
        if not (arr == arr[:, :, :1]).all():
            raise Rejected("mask has colour; expected a single-channel binary mask (0/1 or 0/255)")
        arr = arr[:, :, 0]
    values = set(np.unique(arr).tolist())
    if not any(values <= allowed for allowed in _BINARY_VALUE_SETS):
        shown = sorted(values)[:8]
        raise Rejected(f"mask is not binary: found values {shown} (expected only 0/1 or 0/255)")
    return arr != 0


def mask_canonicalize(data: bytes, *, width: int, height: int) -> CanonicalMask:
    return mask_array_to_canonical(mask_decode(data, width=width, height=height))
