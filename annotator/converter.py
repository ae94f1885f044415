"""The one place masks and boxes cross the Label Studio boundary.

Label Studio brush masks use its own RLE of a W×H×4 RGBA buffer (not COCO RLE); we encode with
`label_studio_sdk.converter.brush.mask2rle` and decode with our own `_decode_rle` (the same format: the SDK's
`decode_rle` first turns every input bit into a Python string, ~60 bytes a bit, so a long RLE took gigabytes and
minutes). Rectangles travel as percentages of the image size; Flawmap stores pixel boxes.
"""

from dataclasses import dataclass

import numpy as np
from label_studio_sdk.converter import brush

MASK_FROM = "artifact_mask"
BOX_FROM = "artifact_box"
CAPTION_FROM = "caption"
CHOICE_FROM = "no_artifacts"
IMAGE_TO = "image"
MASK_LABEL = "Artifact"
NO_ARTIFACTS_CHOICE = "No artifacts"


class ConversionError(ValueError):
    """A Label Studio result we cannot turn into Flawmap labels; the message says which and why."""


@dataclass(frozen=True)
class LSRegion:
    x1: float
    y1: float
    x2: float
    y2: float
    label: str
    caption: str = ""


@dataclass(frozen=True)
class LSLabels:
    mask: np.ndarray | None  # bool H×W, None when no brush stroke
    regions: list[LSRegion]
    no_artifacts: bool


def mask_to_rle(mask: np.ndarray) -> list[int]:
    return brush.mask2rle((np.asarray(mask) != 0).astype(np.uint8) * 255)


# Label Studio's encoder spends at most 14 bits on a value (a run of one); more is not an RLE of this mask.
MAX_RLE_BYTES_PER_VALUE = 2


def _check_rle(rle, *, width: int, height: int) -> None:
    """Check an RLE before decoding it: the SDK allocates whatever its 32-bit header claims (4 GiB from a few bytes)
    and trusts every value to be a byte."""
    expected = width * height * 4
    if not isinstance(rle, list) or len(rle) < 5:
        raise ConversionError("malformed brush RLE: not a list of at least 5 byte values")
    if len(rle) > MAX_RLE_BYTES_PER_VALUE * expected + 16:
        raise ConversionError(f"malformed brush RLE: {len(rle)} bytes is too long for a {width}x{height} mask")
    if not all(type(v) is int and 0 <= v <= 255 for v in rle):
        raise ConversionError("malformed brush RLE: a value that is not a byte (an integer 0-255)")
    claimed = int.from_bytes(bytes(rle[:4]), "big")
    if claimed != expected:
        raise ConversionError(f"malformed brush RLE: its header claims {claimed} values, a {width}x{height} mask has "
                              f"{expected}")


class _Bits:
    """Reads big-endian bit fields of up to 32 bits, five bytes at a time (the SDK's reader makes a string per bit)."""

    def __init__(self, values: list[int]):
        self.data = bytearray(values)
        self.end = len(self.data) * 8
        self.data.extend(bytes(5))  # so that every read can take five bytes
        self.pos = 0

    def read(self, size: int) -> int:
        pos = self.pos
        if pos + size > self.end:
            raise ConversionError("malformed brush RLE: it ends before its header's count of values")
        self.pos = pos + size
        first = pos >> 3
        chunk = int.from_bytes(self.data[first:first + 5], "big")
        return (chunk >> (40 - (pos & 7) - size)) & ((1 << size) - 1)


def _decode_rle(rle: list[int]) -> np.ndarray:
    """Label Studio's brush RLE → the flat RGBA values: a 32-bit count, 5 bits word size - 1, four 4-bit run-length
    widths - 1; then groups of (1 bit: run or literals, 2 bits: which width, the length - 1, the value(s)).
    Peak memory is the input as bytes plus the output (_check_rle has bounded both)."""
    bits = _Bits(rle)
    num = bits.read(32)
    word_size = bits.read(5) + 1
    if word_size > 8:
        raise ConversionError(f"malformed brush RLE: {word_size}-bit values do not fit a byte")
    widths = [bits.read(4) + 1 for _ in range(4)]
    out = np.zeros(num, dtype=np.uint8)
    i = 0
    while i < num:
        is_run = bits.read(1)
        j = i + 1 + bits.read(widths[bits.read(2)])
        if is_run:
            out[i:j] = bits.read(word_size)  # a run past the end is cut, as the SDK does
            i = j
        elif j > num:
            raise ConversionError(f"malformed brush RLE: values past its header's count of {num}")
        else:
            for k in range(i, j):
                out[k] = bits.read(word_size)
            i = j
    return out


def rle_to_mask(rle: list[int], *, width: int, height: int) -> np.ndarray:
    _check_rle(rle, width=width, height=height)
    flat = _decode_rle(rle)
    if flat.size != width * height * 4:
        raise ConversionError(f"brush RLE decodes to {flat.size} values, expected {width}x{height}x4")
    # Label Studio paints strokes with alpha; the RGB channels may be anything.
    return flat.reshape(height, width, 4)[:, :, 3] > 0


def percent_box(x1: float, y1: float, x2: float, y2: float, *, width: int, height: int) -> dict:
    return {"x": 100.0 * x1 / width, "y": 100.0 * y1 / height,
            "width": 100.0 * (x2 - x1) / width, "height": 100.0 * (y2 - y1) / height, "rotation": 0}


def pixel_box(value: dict, *, width: int, height: int) -> tuple[float, float, float, float]:
    try:
        x, y, w, h = (float(value[k]) for k in ("x", "y", "width", "height"))
    except (KeyError, TypeError, ValueError) as exc:
        raise ConversionError(f"rectangle without numeric x/y/width/height: {value}") from exc
    if float(value.get("rotation") or 0) != 0:
        raise ConversionError("rotated rectangles are not supported")
    x1, y1 = max(0.0, x * width / 100), max(0.0, y * height / 100)
    x2, y2 = min(float(width), (x + w) * width / 100), min(float(height), (y + h) * height / 100)
    return x1, y1, x2, y2


def _check_size(result: dict, width: int, height: int) -> None:
    ow, oh = result.get("original_width"), result.get("original_height")
    if ow is None or oh is None:
        return
    if type(ow) is not int or type(oh) is not int:  # "40", 40.5, true or 1e999 are no image sizes
        raise ConversionError(f"original_width and original_height must be integers, got {ow!r} and {oh!r}")
    if (ow, oh) != (width, height):
        raise ConversionError(f"result was drawn on a {ow}x{oh} image but the Flawmap image is {width}x{height}")


def results_to_labels(results: list[dict], *, width: int, height: int) -> LSLabels:
    """Label Studio annotation results → mask (union of strokes), regions with captions, no-artifacts flag."""
    mask = None
    boxes: dict[str, tuple] = {}
    captions: dict[str, str] = {}
    no_artifacts = False
    for result in results or []:
        kind, value = result.get("type"), result.get("value") or {}
        if kind == "brushlabels":
            _check_size(result, width, height)
            if value.get("format", "rle") != "rle" or not isinstance(value.get("rle"), list):
                raise ConversionError("brush result without an RLE list")
            stroke = rle_to_mask(value["rle"], width=width, height=height)
            mask = stroke if mask is None else (mask | stroke)
        elif kind == "rectanglelabels":
            _check_size(result, width, height)
            labels = value.get("rectanglelabels") or []
            if len(labels) != 1:
                raise ConversionError(f"a rectangle needs exactly one class label, got {labels}")
            boxes[result.get("id") or f"_{len(boxes)}"] = (*pixel_box(value, width=width, height=height), labels[0])
        elif kind == "textarea" and result.get("from_name") == CAPTION_FROM:
            captions[result.get("id", "")] = " ".join(value.get("text") or []).strip()
        elif kind == "choices" and result.get("from_name") == CHOICE_FROM:
            no_artifacts = NO_ARTIFACTS_CHOICE in (value.get("choices") or [])
    regions = [LSRegion(x1, y1, x2, y2, label, captions.get(rid, "")) for rid, (x1, y1, x2, y2, label) in boxes.items()]
    return LSLabels(mask=mask, regions=regions, no_artifacts=no_artifacts)


def labels_to_results(
    *, mask: np.ndarray | None, regions: list[LSRegion], width: int, height: int, no_artifacts: bool = False
) -> list[dict]:
    """Flawmap labels → Label Studio results (predictions, simulated labellers): brush mask, boxes,
    per-region captions, and the image-level "No artifacts" choice."""
    results = []
    if no_artifacts:
        results.append({"id": "clean", "from_name": CHOICE_FROM, "to_name": IMAGE_TO, "type": "choices",
                        "value": {"choices": [NO_ARTIFACTS_CHOICE]}})
    if mask is not None and np.any(mask):
        results.append({
            "id": "mask", "from_name": MASK_FROM, "to_name": IMAGE_TO, "type": "brushlabels",
            "original_width": width, "original_height": height, "image_rotation": 0,
            "value": {"format": "rle", "rle": mask_to_rle(mask), "brushlabels": [MASK_LABEL]},
        })
    for i, region in enumerate(regions):
        rid = f"r{i}"
        box = percent_box(region.x1, region.y1, region.x2, region.y2, width=width, height=height)
        common = {"id": rid, "to_name": IMAGE_TO, "original_width": width, "original_height": height,
                  "image_rotation": 0}
        results.append({**common, "from_name": BOX_FROM, "type": "rectanglelabels",
                        "value": {**box, "rectanglelabels": [region.label]}})
        if region.caption:
            results.append({**common, "from_name": CAPTION_FROM, "type": "textarea",
                            "value": {**box, "text": [region.caption]}})
    return results
