"""Real sample photos that ship inside installed packages.

The files are read straight from the package directories instead of through
`skimage.data.<name>()`: with `pooch` installed those helpers may reach the
network for some images, and the synthetic set must never download anything.
Every file listed here is part of the scikit-image / scikit-learn wheels.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class SamplePhoto:
    uri: str
    package: str
    resource: tuple[str, ...]
    domain: str
    prompts: tuple[str, ...]


# Only colour photographs of ordinary subjects: the grey-scale, microscopy,
# medical and synthetic test patterns in skimage.data would not pass for
# generated images, and eagle/lily/skin etc. are pooch-only downloads.
SAMPLE_PHOTOS: tuple[SamplePhoto, ...] = (
    SamplePhoto(
        "skimage:astronaut", "skimage.data", ("astronaut.png",), "person",
        (
            "portrait of a smiling astronaut in an orange flight suit, american flag behind her",
            "official NASA portrait photo of a female astronaut holding a helmet",
        ),
    ),
    SamplePhoto(
        "skimage:chelsea", "skimage.data", ("chelsea.png",), "animal",
        (
            "close-up photo of a tabby cat with green eyes",
            "a curious cat looking at the camera, shallow depth of field",
        ),
    ),
    SamplePhoto(
        "skimage:coffee", "skimage.data", ("coffee.png",), "object",
        (
            "an espresso cup on a red saucer on a wooden table, top view",
            "a cup of coffee with a spoon, warm light",
        ),
    ),
    SamplePhoto(
        "skimage:rocket", "skimage.data", ("rocket.jpg",), "scene",
        (
            "a rocket on the launch pad at dusk, floodlights",
            "launch towers and a rocket against a deep blue evening sky",
        ),
    ),
    SamplePhoto(
        "skimage:hubble_deep_field", "skimage.data", ("hubble_deep_field.jpg",), "scene",
        (
            "deep field telescope image of thousands of distant galaxies",
            "a starry night sky full of colourful galaxies",
        ),
    ),
    SamplePhoto(
        "skimage:stereo_motorcycle", "skimage.data", ("motorcycle_left.png",), "object",
        (
            "a red motorcycle parked in a cluttered garage",
            "photo of a vintage motorbike next to metal shelves",
        ),
    ),
    SamplePhoto(
        "sklearn:china.jpg", "sklearn.datasets", ("images", "china.jpg"), "scene",
        (
            "a traditional chinese pagoda on a hill above a lake, summer haze",
            "an ornate temple tower surrounded by trees",
        ),
    ),
    SamplePhoto(
        "sklearn:flower.jpg", "sklearn.datasets", ("images", "flower.jpg"), "object",
        (
            "macro photo of an orange dahlia flower, dark green background",
            "a single blooming dahlia with soft bokeh",
        ),
    ),
)

PHOTOS_BY_URI: dict[str, SamplePhoto] = {p.uri: p for p in SAMPLE_PHOTOS}


@lru_cache(maxsize=None)
def _read(uri: str) -> np.ndarray:
    photo = PHOTOS_BY_URI[uri]
    path = files(photo.package).joinpath(*photo.resource)
    with path.open("rb") as fh, Image.open(fh) as im:
        array = np.asarray(im.convert("RGB"), dtype=np.uint8)
    # Cached arrays are shared between callers; freezing them turns an
    # accidental in-place edit into an error instead of a corrupted source.
    array.setflags(write=False)
    return array


def load_photo(uri: str) -> np.ndarray:
    """The RGB uint8 (H, W, 3) array for one `source_uri`; read-only, cached."""
    return _read(uri)


def load_sample_photos() -> dict[str, np.ndarray]:
    """All usable sample photos keyed by `source_uri`, in a fixed order.

    A photo whose package is not installed is left out, so the set (and hence
    the generated data) depends only on which packages are present.
    """
    photos: dict[str, np.ndarray] = {}
    for photo in SAMPLE_PHOTOS:
        try:
            photos[photo.uri] = _read(photo.uri)
        except (ModuleNotFoundError, FileNotFoundError):
            continue
    if not photos:
        raise RuntimeError("no sample photos found: install scikit-image or scikit-learn")
    return photos
