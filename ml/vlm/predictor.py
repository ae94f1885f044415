"""Ask a loaded VLM the template question about images and read its answers with the strict parser.

`VlmPredictor(loaded).predict(images)` → one `VlmPrediction` per image: parsed regions (boxes clipped to
the image), the raw text and `malformed` + `error` when the output broke the template (then no regions).
Greedy decoding, so the same model and image give the same answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ml.vlm.model import LoadedVlm, make_batch
from ml.vlm.template import parse_answer, question, with_image_size

DEFAULT_MAX_NEW_TOKENS = 192


class ImageReadError(ValueError):
    """An input is not a readable image; `index` and `name` say which."""

    def __init__(self, message: str, *, index: int, name: str = ""):
        super().__init__(message)
        self.index, self.name = index, name


@dataclass
class VlmPrediction:
    regions: list[dict] = field(default_factory=list)  # {"bbox", "class", "code", "caption"}
    malformed: bool = False
    error: str = ""
    raw: str = ""
    width: int = 0
    height: int = 0

    @property
    def classes(self) -> list[str]:
        return list(dict.fromkeys(r["class"] for r in self.regions))


def as_rgb(image, *, index: int = 0):
    """PIL image, HxWx3 uint8 array or path → RGB PIL image; ImageReadError names a bad one."""
    from PIL import Image, UnidentifiedImageError

    name = str(image) if isinstance(image, (str, Path)) else ""
    try:
        if isinstance(image, (str, Path)):
            with Image.open(image) as im:
                im.load()
                return im.convert("RGB")
        if isinstance(image, np.ndarray):
            return Image.fromarray(image.astype(np.uint8)).convert("RGB")
        image.load()
        return image.convert("RGB")
    except (OSError, UnidentifiedImageError, ValueError, TypeError, AttributeError) as exc:
        raise ImageReadError(f"image {index}{f' ({name})' if name else ''} is not a readable image: {exc}",
                             index=index, name=name) from exc


def _clip(regions: list[dict], width: int, height: int) -> tuple[list[dict], str]:
    """Boxes clipped to the image; a box entirely outside it makes the answer malformed."""
    clipped = []
    for r in regions:
        x1, y1, x2, y2 = r["bbox"]
        x1, y1, x2, y2 = min(x1, width), min(y1, height), min(x2, width), min(y2, height)
        if x2 <= x1 or y2 <= y1:
            return [], f"box {r['bbox']} lies outside the {width}x{height} image"
        clipped.append({**r, "bbox": [x1, y1, x2, y2]})
    return clipped, ""


class VlmPredictor:
    def __init__(self, loaded: LoadedVlm, *, batch_size: int = 8, max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS):
        self.loaded, self.batch_size, self.max_new_tokens = loaded, batch_size, max_new_tokens
        self.question = question(loaded.classes)

    def _generate(self, images) -> list[str]:
        import torch

        proc, model = self.loaded.processor, self.loaded.model
        questions = [with_image_size(self.question, width=im.width, height=im.height) for im in images]
        batch = make_batch(proc, images, questions, device=self.loaded.device)
        with torch.inference_mode():
            out = model.generate(**batch, max_new_tokens=self.max_new_tokens, do_sample=False,
                                 pad_token_id=proc.tokenizer.pad_token_id, eos_token_id=proc.tokenizer.eos_token_id)
        return proc.tokenizer.batch_decode(out[:, batch["input_ids"].shape[1]:], skip_special_tokens=True)

    def predict(self, images) -> list[VlmPrediction]:
        rgb = [as_rgb(im, index=i) for i, im in enumerate(images)]  # every image is checked before any work
        results: list[VlmPrediction] = []
        for start in range(0, len(rgb), self.batch_size):
            chunk = rgb[start:start + self.batch_size]
            for im, text in zip(chunk, self._generate(chunk)):
                parsed = parse_answer(text, self.loaded.classes)
                regions, error = _clip(parsed.regions, im.width, im.height)
                results.append(VlmPrediction(regions=regions, malformed=parsed.malformed or bool(error),
                                             error=parsed.error or error, raw=text, width=im.width, height=im.height))
        return results
