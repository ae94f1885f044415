"""Checks an uploaded file really is an image we can store, without trusting its name or headers."""

import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

CONTENT_TYPES = {
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "WEBP": "image/webp",
    "BMP": "image/bmp",
    "TIFF": "image/tiff",
}


class Rejected(Exception):
    """A file that cannot be stored; the message says why in words a user can act on."""


@dataclass(frozen=True)
class ImageInfo:
    width: int
    height: int
    format: str
    content_type: str


def inspect_image(data: bytes, *, max_pixels: int) -> ImageInfo:
    """Decode the whole image once (catches truncation) after checking its size from the header."""
    if not data:
        raise Rejected("empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                width, height = im.size
                if width * height > max_pixels:
                    raise Rejected(
                        f"image is {width}x{height} = {width * height} pixels, over the limit of "
                        f"{max_pixels} (FLAWMAP_MAX_PIXELS)"
                    )
                if im.format not in CONTENT_TYPES:
                    raise Rejected(
                        f"unsupported image format {im.format}; accepted: {', '.join(sorted(CONTENT_TYPES))}"
                    )
                im.load()
                return ImageInfo(width, height, im.format, CONTENT_TYPES[im.format])
    except Rejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise Rejected(f"image is too large to decode safely (FLAWMAP_MAX_PIXELS={max_pixels}): {exc}") from exc
    except UnidentifiedImageError as exc:
        raise Rejected("not an image (unrecognised file format)") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise Rejected(f"truncated or corrupt image data: {exc}") from exc
