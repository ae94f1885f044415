"""Artifact regions of a mask: dilation, connected components, their boxes and the square crops around them."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage

# Side of the zoom-in crop relative to the component's longest bounding-box axis (PAL4VST's rectification).
CROP_SCALE = 1.5


@dataclass(frozen=True)
class Component:
    label: int  # its value in the label image
    x1: int  # bounding box, pixel edges: columns x1..x2-1, rows y1..y2-1
    y1: int
    x2: int
    y2: int
    area: int  # pixels

    @property
    def longest_axis(self) -> int:
        return max(self.x2 - self.x1, self.y2 - self.y1)


@dataclass(frozen=True)
class Crop:
    """A square window of the image: columns x..x+side-1, rows y..y+side-1."""

    x: int
    y: int
    side: int

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.y, self.y + self.side), slice(self.x, self.x + self.side)


def dilate(mask: np.ndarray, pixels: int) -> np.ndarray:
    """0/1 uint8 mask grown by `pixels` in every direction (a disc, so corners are not over-grown)."""
    binary = (np.asarray(mask) != 0).astype(np.uint8)
    if pixels <= 0:
        return binary
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * pixels + 1, 2 * pixels + 1))
    return cv2.dilate(binary, kernel)


def connected_components(mask: np.ndarray) -> tuple[np.ndarray, list[Component]]:
    """8-connected components of a mask: the label image (0 = background) and one Component per label."""
    labels, count = ndimage.label(np.asarray(mask) != 0, structure=np.ones((3, 3), dtype=bool))
    if count == 0:
        return labels, []
    areas = np.bincount(labels.ravel(), minlength=count + 1)
    components = []
    for label, found in enumerate(ndimage.find_objects(labels), start=1):
        rows, cols = found
        components.append(Component(label=label, x1=cols.start, y1=rows.start, x2=cols.stop, y2=rows.stop,
                                    area=int(areas[label])))
    return labels, components


def crop_around(component: Component, *, height: int, width: int, scale: float = CROP_SCALE,
                min_side: int = 0) -> Crop:
    """The square crop for one component: side = scale x its longest axis (at least min_side), centred on its
    box, never larger than the image's short side, and shifted (not shrunk) to lie inside the image."""
    side = int(np.ceil(scale * component.longest_axis))
    side = min(max(side, min_side), height, width)
    centre_x = (component.x1 + component.x2) / 2
    centre_y = (component.y1 + component.y2) / 2
    x = int(np.clip(round(centre_x - side / 2), 0, width - side))
    y = int(np.clip(round(centre_y - side / 2), 0, height - side))
    return Crop(x=x, y=y, side=side)


def flagged_regions(mask: np.ndarray, *, min_area: int = 1) -> list[dict]:
    """The regions a detector flagged: one dict per connected component (box, area, share of the image),
    largest first. Components smaller than min_area pixels (specks) are left out."""
    _, components = connected_components(mask)
    total = max(1, int(np.asarray(mask).size))
    regions = [
        {"x1": c.x1, "y1": c.y1, "x2": c.x2, "y2": c.y2, "area": c.area, "par": c.area / total}
        for c in components if c.area >= min_area
    ]
    return sorted(regions, key=lambda r: (-r["area"], r["y1"], r["x1"]))
