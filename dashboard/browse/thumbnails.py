"""Gallery thumbnails: the image at a fixed size with one pass drawn over it (its mask tinted, its boxes with class
codes), made once per (image sha256, pass) and kept in the blob storage under a derived key. The key names
everything the picture depends on, so it is also the HTTP ETag and a thumbnail never changes once made."""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image

from backend.annotations.models import Annotation
from backend.core.blobs import blob_read, derived_key, derived_read, derived_save
from backend.images.models import GeneratedImage
from backend.quality.models import ImageLabelCheck

SIZE = 256  # pixels on the longest side
# JPEG: encoding a 256 px WebP costs several times a JPEG's, and a thumbnail has no transparency to keep.
CONTENT_TYPE = "image/jpeg"
QUALITY = 85
TINT_BGR = (53, 57, 229)  # the overlay red of dashboard/browse/overlays.py, in OpenCV's channel order
ALPHA = 0.55  # of the tint over an artifact pixel: the picture stays visible under the mask
LABEL_BG = (40, 40, 40)


def thumbnail_key(*, sha256: str, pass_id: int | None) -> str:
    variant = f"thumb{SIZE}-{'pass' + str(pass_id) if pass_id else 'bare'}"
    return derived_key(sha256=sha256, variant=variant, content_type=CONTENT_TYPE)


def _mask_coverage(mask_png: bytes, size: tuple[int, int]) -> np.ndarray:
    """Share of artifact pixels under each thumbnail pixel (0..1): thin artifacts stay visible when shrunk."""
    with Image.open(io.BytesIO(mask_png)) as decoded:
        artifact = (np.asarray(decoded) != 0).astype(np.float32)  # palette indices: 0 clean, 1 artifact
    coverage = cv2.resize(artifact, size, interpolation=cv2.INTER_AREA)
    # Any artifact under a pixel shows at least half tinted, so a 1-pixel scratch on a 4k image is not lost.
    return np.where(coverage > 0, np.maximum(coverage, 0.5), 0.0)


def _draw_box(picture: np.ndarray, box: tuple[float, float, float, float], code: str, scale: float) -> None:
    x1, y1, x2, y2 = (int(round(v * scale)) for v in box)
    cv2.rectangle(picture, (x1, y1), (max(x2 - 1, x1), max(y2 - 1, y1)), TINT_BGR, 1, cv2.LINE_AA)
    if code:
        (w, h), base = cv2.getTextSize(code, cv2.FONT_HERSHEY_SIMPLEX, 0.35, 1)
        top = max(y1 - h - base - 1, 0)
        cv2.rectangle(picture, (x1, top), (x1 + w + 2, top + h + base + 1), LABEL_BG, -1)
        cv2.putText(picture, code, (x1 + 1, top + h + 1), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 255), 1,
                    cv2.LINE_AA)


def thumbnail_render(*, image_bytes: bytes, mask_png: bytes | None = None,
                     boxes: list[tuple[tuple[float, float, float, float], str]] = ()) -> bytes:
    """JPEG of the image shrunk to SIZE on its longest side, the mask tinted and each (box, class code) drawn.
    Boxes are in the image's pixels."""
    picture = cv2.imdecode(np.frombuffer(image_bytes, np.uint8), cv2.IMREAD_COLOR)
    if picture is None:
        raise ValueError("the image could not be decoded")
    height, width = picture.shape[:2]
    scale = SIZE / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = cv2.resize(picture, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    if mask_png is not None:
        weight = (_mask_coverage(mask_png, size) * ALPHA)[..., None]
        small = (small * (1 - weight) + np.array(TINT_BGR, np.float32) * weight).astype(np.uint8)
    for box, code in boxes:
        _draw_box(small, box, code, scale)
    ok, encoded = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, QUALITY])
    if not ok:
        raise ValueError("the thumbnail could not be encoded")
    return encoded.tobytes()


def _pass_with_drawing(*, image_id: int, pass_id: int) -> Annotation | None:
    return (Annotation.objects.filter(pk=pass_id, image_id=image_id)
            .prefetch_related("masks__blob", "regions__artifact_class").first())


def thumbnail_make(*, image: GeneratedImage, annotation: Annotation | None) -> bytes:
    """Render and keep the thumbnail of `image` with `annotation` drawn (or bare); returns its bytes."""
    mask = next(iter(annotation.masks.all()), None) if annotation is not None else None
    boxes = [((r.x1, r.y1, r.x2, r.y2), r.artifact_class.code) for r in annotation.regions.all()] \
        if annotation is not None else []
    data = thumbnail_render(image_bytes=blob_read(image.blob), mask_png=blob_read(mask.blob) if mask else None,
                            boxes=boxes)
    derived_save(thumbnail_key(sha256=image.blob_id, pass_id=annotation.pk if annotation else None), data)
    return data


def thumbnail_get(*, image: GeneratedImage, pass_id: int | None) -> bytes | None:
    """The kept thumbnail, made now on a miss; None when `pass_id` is not a pass on this image."""
    data = derived_read(thumbnail_key(sha256=image.blob_id, pass_id=pass_id))
    if data is not None:
        return data
    annotation = None
    if pass_id:
        annotation = _pass_with_drawing(image_id=image.pk, pass_id=pass_id)
        if annotation is None:
            return None
    return thumbnail_make(image=image, annotation=annotation)


def thumbnails_ensure(*, image_ids: list[int]) -> int:
    """Make the missing thumbnails of these images with their representative pass (what the gallery shows);
    returns how many were made."""
    representative = dict(ImageLabelCheck.objects.filter(image_id__in=image_ids)
                          .values_list("image_id", "representative_id"))
    made = 0
    for image in GeneratedImage.objects.filter(pk__in=image_ids).select_related("blob"):
        pass_id = representative.get(image.pk)
        if derived_read(thumbnail_key(sha256=image.blob_id, pass_id=pass_id)) is None:
            if thumbnail_get(image=image, pass_id=pass_id) is not None:
                made += 1
    return made
