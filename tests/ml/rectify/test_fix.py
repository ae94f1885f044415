import numpy as np
import pytest

from ml.rectify import (
    MODES,
    InpainterUnavailable,
    dilate,
    feather_weights,
    fix_image,
    inpainter_create,
    rectify_images,
)
from ml.segmentation.predictor import Predictions

MAGENTA = np.array([255, 0, 255], np.uint8)


class SolidInpainter:
    """Fills with one colour and records what it was given."""

    name = "solid"

    def __init__(self, working_size=64, colour=(0, 200, 0)):
        self.working_size = working_size
        self.colour = np.array(colour, np.uint8)
        self.calls = []

    def inpaint(self, image, mask):
        self.calls.append((image.shape, mask.shape, int(mask.sum())))
        out = image.copy()
        out[mask != 0] = self.colour
        return out


def scene(seed=0, shape=(180, 240)):
    """A smooth picture with several artifact blobs, one touching the border, one a thin stroke."""
    rng = np.random.default_rng(seed)
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    image = np.stack([(xx * 255 / w), (yy * 255 / h), np.full((h, w), 90.0)], -1)
    image = np.clip(image + rng.normal(0, 6, image.shape), 0, 255).astype(np.uint8)
    mask = np.zeros(shape, np.uint8)
    mask[20:40, 30:70] = 1
    mask[h - 25 : h, w - 30 : w] = 1  # at the bottom-right corner
    mask[100:102, 20:120] = 1  # thin stroke
    mask[60:64, 200:204] = 1  # a speck
    image[mask != 0] = MAGENTA
    return image, mask


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("backend", ["opencv-telea", "opencv-ns"])
def test_no_pixel_outside_the_dilated_mask_changes_and_the_artifacts_are_filled(mode, backend):
    image, mask = scene()
    result = fix_image(image, mask, inpainter_create(backend, working_size=128), mode=mode, dilate_px=6)
    region = dilate(mask, 6)
    assert np.array_equal(result.region, region)
    changed = np.any(result.image != image, axis=-1)
    assert not np.any(changed & (region == 0)), "a pixel outside the dilated mask changed"
    assert np.array_equal(result.image[region == 0], image[region == 0])
    # the magenta artifact pixels are gone: the mask itself is pasted at full weight
    assert not np.any(np.all(result.image[mask != 0] == MAGENTA, axis=-1))
    assert result.components == 4
    if mode == "zoom":
        assert len(result.crops) == 4 and result.fallback_pixels == 0
    else:
        assert result.crops == []


def test_feather_is_zero_outside_full_on_the_mask_and_ramps_in_the_margin():
    mask = np.zeros((60, 60), np.uint8)
    mask[25:35, 25:35] = 1
    region = dilate(mask, 5)
    weights = feather_weights(region, 5)
    assert np.all(weights[region == 0] == 0)
    assert np.all(weights[mask != 0] == 1)
    margin = (region != 0) & (mask == 0)
    assert 0 < weights[margin].min() < 1 and np.unique(weights[margin]).size > 2


@pytest.mark.parametrize("mode", MODES)
def test_inpainter_sees_its_working_size_once_per_component_and_paste_stays_inside(mode):
    image, mask = scene(seed=1)
    inpainter = SolidInpainter(working_size=64)
    result = fix_image(image, mask, inpainter, mode=mode, dilate_px=4)
    assert all(img == (64, 64, 3) and m == (64, 64) and painted > 0 for img, m, painted in inpainter.calls)
    assert len(inpainter.calls) == (4 if mode == "zoom" else 1)
    region = result.region != 0
    assert np.array_equal(result.image[~region], image[~region])
    # weight 1 on the mask: artifact pixels take the inpainter's colour (up to resampling at the edges)
    filled = result.image[mask != 0].astype(int)
    assert np.mean(np.abs(filled - [0, 200, 0]).max(-1) <= 40) > 0.9


def test_a_component_longer_than_the_short_side_is_finished_by_the_whole_image_fallback():
    image = np.full((64, 256, 3), 120, np.uint8)
    mask = np.zeros((64, 256), np.uint8)
    mask[30:34, 10:246] = 1  # 236 px long: 1.5x is far beyond the 64 px short side
    image[mask != 0] = MAGENTA
    result = fix_image(image, mask, SolidInpainter(working_size=64), mode="zoom", dilate_px=2)
    assert result.crops[0].side == 64 and result.fallback_pixels > 0
    assert not np.any(np.all(result.image[mask != 0] == MAGENTA, axis=-1))
    assert np.array_equal(result.image[result.region == 0], image[result.region == 0])


def test_an_empty_mask_changes_nothing_and_calls_no_inpainter():
    image, _ = scene()
    inpainter = SolidInpainter()
    result = fix_image(image, np.zeros(image.shape[:2], np.uint8), inpainter)
    assert np.array_equal(result.image, image) and inpainter.calls == [] and result.components == 0


def test_bad_arguments_are_refused():
    image, mask = scene()
    with pytest.raises(ValueError, match="mode"):
        fix_image(image, mask, SolidInpainter(), mode="tile")
    with pytest.raises(ValueError, match="mask is"):
        fix_image(image, mask[:10], SolidInpainter())
    with pytest.raises(InpainterUnavailable, match="unknown inpainting backend 'lama'"):
        inpainter_create("lama")
    assert inpainter_create("opencv").name == "opencv-telea" and inpainter_create("ns").name == "opencv-ns"


def test_diffusers_backend_without_a_local_model_says_so(tmp_path):
    with pytest.raises(InpainterUnavailable, match="needs a local Stable Diffusion inpainting model"):
        inpainter_create("diffusers-sd")
    with pytest.raises(InpainterUnavailable, match="not a diffusers model folder"):
        inpainter_create("diffusers", model_path=str(tmp_path))
    try:
        import diffusers  # noqa: F401
    except ImportError:
        (tmp_path / "model_index.json").write_text("{}")
        with pytest.raises(InpainterUnavailable, match="diffusers package, which is not installed"):
            inpainter_create("diffusers-sd", model_path=str(tmp_path))


class MagentaDetector:
    """Stands in for the segmenter: pure magenta pixels are the artifacts."""

    batch_size = 4

    def predict(self, images):
        masks = [np.all(im == MAGENTA, axis=-1).astype(np.uint8) for im in images]
        return Predictions(masks, [m.astype(np.float32) for m in masks], [float(m.mean()) for m in masks])


@pytest.mark.parametrize("mode", MODES)
def test_rectify_measures_par_before_and_after_with_the_same_detector(mode):
    images = [scene(seed=s)[0] for s in range(3)] + [np.full((50, 70, 3), 30, np.uint8)]
    results = rectify_images(MagentaDetector(), images, inpainter_create("opencv-telea", working_size=128),
                             mode=mode, dilate_px=4)
    assert [r.par_before > 0 for r in results] == [True, True, True, False]
    assert all(r.par_after == 0.0 for r in results)
    assert np.array_equal(results[3].fixed, images[3])
    assert all(r.fixed.shape == im.shape and r.seconds >= 0 for r, im in zip(results, images))
