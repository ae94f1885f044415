"""Synthetic perceptual artifacts confined to blob-shaped regions.

Contract relied on by the dataset and its tests: every artifact is composited
with a hard mask, so pixels outside the returned mask are bit-identical to the
clean crop, and an artifact is only kept when it visibly altered most of its
blob (a blur over flat sky changes nothing and would make a dishonest label).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from PIL import Image
from scipy import ndimage
from scipy.signal import fftconvolve
from skimage.draw import line_aa
from skimage.transform import swirl

ARTIFACT_KINDS: tuple[str, ...] = (
    "swirl",
    "warp",
    "blur",
    "smear",
    "color_shift",
    "noise",
    "duplicate",
)

# A pixel counts as altered when some channel moved by at least this much. PAL4VST labels *perceptual*
# artifacts: a blur over an already smooth patch moves pixels by 2-3 levels, which nobody sees, and labelling
# it teaches a model to guess; 10 (~4 % of the range) leaves only changes a person can see.
MIN_PIXEL_DELTA = 10
# Share of a blob's pixels that must be altered for the artifact to be kept.
MIN_ALTERED_FRACTION = 0.6
# Blob area as a fraction of the image; log-uniform so small defects dominate,
# as they do in real generated images.
BLOB_PAR_RANGE = (0.008, 0.12)
MAX_TOTAL_PAR = 0.3
ATTEMPTS_PER_ARTIFACT = 8

Rng = np.random.Generator


# --------------------------------------------------------------------------- crop


def random_crop(rng: Rng, photo: np.ndarray, size: int) -> np.ndarray:
    """A random square crop of `photo`, maybe mirrored, resized to size x size."""
    h, w = photo.shape[:2]
    side = int(round(rng.uniform(0.55, 1.0) * min(h, w)))
    y0 = int(rng.integers(0, h - side + 1))
    x0 = int(rng.integers(0, w - side + 1))
    flip = bool(rng.random() < 0.5)
    crop = photo[y0 : y0 + side, x0 : x0 + side]
    if flip:
        crop = crop[:, ::-1]
    if side != size:
        # PIL's Lanczos is fast and bit-for-bit deterministic, which the
        # byte-identical-output guarantee depends on.
        crop = np.asarray(
            Image.fromarray(np.ascontiguousarray(crop)).resize((size, size), Image.Resampling.LANCZOS)
        )
    return np.array(crop, dtype=np.uint8, copy=True)


# --------------------------------------------------------------------------- blobs


def random_blob(rng: Rng, shape: tuple[int, int], par: float) -> np.ndarray:
    """One connected, hole-free organic blob covering about `par` of the image.

    A warped elliptical bump plus smooth noise is thresholded at the quantile
    that gives the wanted area, which controls PAR directly while the noise
    makes the edge irregular rather than a clean ellipse.
    """
    h, w = shape
    target = max(16, int(round(par * h * w)))
    radius = np.sqrt(target / np.pi)
    cy = rng.uniform(0.15, 0.85) * h
    cx = rng.uniform(0.15, 0.85) * w
    aspect = np.exp(rng.uniform(-0.5, 0.5))
    theta = rng.uniform(0, np.pi)
    wobble = rng.uniform(0.3, 0.9)

    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    dy, dx = yy - cy, xx - cx
    u = dx * np.cos(theta) + dy * np.sin(theta)
    v = -dx * np.sin(theta) + dy * np.cos(theta)
    d2 = (u / (radius * aspect)) ** 2 + (v / (radius / aspect)) ** 2
    noise = ndimage.gaussian_filter(
        rng.standard_normal((h, w)).astype(np.float32), sigma=max(1.5, radius / 3)
    )
    noise /= noise.std() + 1e-8
    field = -np.sqrt(d2) + wobble * noise

    threshold = np.partition(field.ravel(), field.size - target)[field.size - target]
    blob = field >= threshold
    labels, _ = ndimage.label(blob)
    seed_label = labels.flat[int(np.argmax(np.where(blob, -d2, -np.inf)))]
    blob = labels == seed_label
    return ndimage.binary_fill_holes(blob)


def _centroid_and_radius(blob: np.ndarray) -> tuple[float, float, float]:
    ys, xs = np.nonzero(blob)
    return float(ys.mean()), float(xs.mean()), float(np.sqrt(blob.sum() / np.pi))


# --------------------------------------------------------------------------- kinds
# Each kind returns a full-frame altered image; only pixels under the blob are
# used, so the kinds may freely change the rest of the frame.


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def _swirl(rng: Rng, img: np.ndarray, blob: np.ndarray) -> np.ndarray | None:
    cy, cx, r = _centroid_and_radius(blob)
    strength = rng.uniform(2.0, 6.0) * rng.choice([-1.0, 1.0])
    out = swirl(
        img.astype(np.float32), center=(cx, cy), strength=strength,
        radius=r * rng.uniform(1.3, 2.0), order=1, mode="reflect", preserve_range=True,
    )
    return _to_uint8(out)


def _warp(rng: Rng, img: np.ndarray, blob: np.ndarray) -> np.ndarray | None:
    h, w = blob.shape
    _, _, r = _centroid_and_radius(blob)
    sigma = max(2.0, r / 4)
    amplitude = rng.uniform(0.25, 0.5) * r + 3.0
    fields = []
    for _ in range(2):
        f = ndimage.gaussian_filter(rng.standard_normal((h, w)).astype(np.float32), sigma)
        fields.append(f * (amplitude / (np.abs(f).max() + 1e-8)))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    coords = [yy + fields[0], xx + fields[1]]
    out = np.stack(
        [ndimage.map_coordinates(img[..., c].astype(np.float32), coords, order=1, mode="reflect")
         for c in range(3)],
        axis=-1,
    )
    return _to_uint8(out)


def _blur(rng: Rng, img: np.ndarray, blob: np.ndarray) -> np.ndarray | None:
    sigma = rng.uniform(2.5, 6.0)
    return _to_uint8(ndimage.gaussian_filter(img.astype(np.float32), sigma=(sigma, sigma, 0)))


def _smear(rng: Rng, img: np.ndarray, blob: np.ndarray) -> np.ndarray | None:
    # A directional (motion) blur; FFT convolution keeps long kernels cheap.
    length = int(rng.integers(9, 26)) | 1
    angle = rng.uniform(0, np.pi)
    half = length // 2
    kernel = np.zeros((length, length), np.float32)
    r0, c0 = half - round(half * np.sin(angle)), half - round(half * np.cos(angle))
    r1, c1 = half + round(half * np.sin(angle)), half + round(half * np.cos(angle))
    rr, cc, val = line_aa(int(r0), int(c0), int(r1), int(c1))
    kernel[rr, cc] = val
    kernel /= kernel.sum()
    padded = np.pad(img.astype(np.float32), ((half, half), (half, half), (0, 0)), mode="reflect")
    out = fftconvolve(padded, kernel[..., None], mode="valid", axes=(0, 1))
    return _to_uint8(out)


def _color_shift(rng: Rng, img: np.ndarray, blob: np.ndarray) -> np.ndarray | None:
    # Mixed-sign channel offsets tint every pixel, even saturated ones.
    magnitude = rng.uniform(30.0, 70.0)
    direction = rng.standard_normal(3)
    if np.all(direction > 0) or np.all(direction < 0):
        direction[int(rng.integers(3))] *= -1
    offset = magnitude * direction / np.linalg.norm(direction)
    gain = rng.uniform(0.85, 1.15)
    return _to_uint8(img.astype(np.float32) * gain + offset)


def _noise(rng: Rng, img: np.ndarray, blob: np.ndarray) -> np.ndarray | None:
    # Slightly correlated grain reads as a wrong texture rather than sensor noise.
    std = rng.uniform(14.0, 32.0)
    grain = rng.standard_normal(img.shape).astype(np.float32)
    grain = ndimage.gaussian_filter(grain, sigma=(rng.uniform(0.5, 1.2),) * 2 + (0,))
    grain *= std / (grain.std() + 1e-8)
    return _to_uint8(img.astype(np.float32) + grain)


def _duplicate(rng: Rng, img: np.ndarray, blob: np.ndarray) -> np.ndarray | None:
    """Paste the same-shaped region from elsewhere, like a cloned patch."""
    h, w = blob.shape
    ys, xs = np.nonzero(blob)
    y0, y1, x0, x1 = ys.min(), ys.max(), xs.min(), xs.max()
    min_shift = 0.6 * max(y1 - y0 + 1, x1 - x0 + 1)
    for _ in range(20):
        dy = int(rng.integers(-y0, h - y1))
        dx = int(rng.integers(-x0, w - x1))
        if np.hypot(dy, dx) >= min_shift:
            out = img.copy()
            out[ys, xs] = img[ys + dy, xs + dx]
            return out
    return None


_KIND_FUNCS: dict[str, Callable[[Rng, np.ndarray, np.ndarray], np.ndarray | None]] = {
    "swirl": _swirl,
    "warp": _warp,
    "blur": _blur,
    "smear": _smear,
    "color_shift": _color_shift,
    "noise": _noise,
    "duplicate": _duplicate,
}
# Kinds that alter any pixel whatever the content, used as the last resort so
# a requested artifact is not silently dropped on a featureless region.
_CONTENT_INDEPENDENT = ("noise", "color_shift")


def apply_kind(rng: Rng, kind: str, img: np.ndarray, blob: np.ndarray) -> np.ndarray | None:
    """`img` with artifact `kind` inside `blob` (hard-composited), or None if it cannot apply."""
    altered = _KIND_FUNCS[kind](rng, img, blob)
    if altered is None:
        return None
    return np.where(blob[..., None], altered, img)


def _altered_fraction(before: np.ndarray, after: np.ndarray, blob: np.ndarray) -> float:
    delta = np.abs(after.astype(np.int16) - before.astype(np.int16)).max(axis=-1)
    return float((delta[blob] >= MIN_PIXEL_DELTA).mean())


# --------------------------------------------------------------------------- samples


def apply_artifacts(
    rng: Rng, clean: np.ndarray, n_artifacts: int, *, kinds_allowed: tuple[str, ...] = ARTIFACT_KINDS
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Add up to `n_artifacts` artifacts of distinct kinds (drawn from `kinds_allowed`) to `clean`."""
    h, w = clean.shape[:2]
    image = clean.copy()
    mask = np.zeros((h, w), dtype=bool)
    kinds: list[str] = []
    budget = float(np.exp(rng.uniform(np.log(0.015), np.log(0.25))))
    for i in range(n_artifacts):
        share = budget / n_artifacts * rng.uniform(0.6, 1.4)
        par = float(np.clip(share, *BLOB_PAR_RANGE))
        for attempt in range(ATTEMPTS_PER_ARTIFACT):
            unused = [k for k in kinds_allowed if k not in kinds]
            if not unused:
                break
            if attempt == ATTEMPTS_PER_ARTIFACT - 1:
                unused = [k for k in _CONTENT_INDEPENDENT if k not in kinds and k in kinds_allowed] or unused
            kind = str(rng.choice(unused))
            blob = random_blob(rng, (h, w), par)
            # Keep defects mostly apart so each kind owns a readable region,
            # and keep the union inside the PAR range the set promises.
            if (blob & mask).sum() > 0.3 * blob.sum():
                continue
            if (blob | mask).mean() > MAX_TOTAL_PAR:
                continue
            altered = apply_kind(rng, kind, image, blob)
            if altered is None or _altered_fraction(image, altered, blob) < MIN_ALTERED_FRACTION:
                continue
            image = altered
            mask |= blob
            kinds.append(kind)
            break
    return image, mask.astype(np.uint8), kinds


def make_artifact_sample(
    rng: Rng, photo: np.ndarray, size: int, *, n_artifacts: int | None = None,
    kinds_allowed: tuple[str, ...] = ARTIFACT_KINDS,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """One training sample from a source photo.

    Returns (image uint8 HxWx3, mask uint8 HxW with 0/1, artifact kinds).
    The crop is drawn first from `rng`, so `random_crop` on a generator in the
    same state reproduces the clean image. `n_artifacts` defaults to 1-3;
    0 gives an artifact-free sample with an all-zero mask.
    """
    clean = random_crop(rng, photo, size)
    if n_artifacts is None:
        n_artifacts = int(rng.choice([1, 2, 3], p=[0.5, 0.3, 0.2]))
    if n_artifacts == 0:
        return clean, np.zeros(clean.shape[:2], np.uint8), []
    return apply_artifacts(rng, clean, n_artifacts, kinds_allowed=kinds_allowed)
