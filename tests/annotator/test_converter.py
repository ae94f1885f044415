import numpy as np
import pytest
from lxml import etree

from annotator.converter import (
    ConversionError,
    LSRegion,
    labels_to_results,
    mask_to_rle,
    pixel_box,
    results_to_labels,
    rle_to_mask,
)
from annotator.labeling_config import labeling_config


def random_mask(h=37, w=53, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((h, w)) > 0.7


def test_rle_round_trip_is_pixel_exact():
    mask = random_mask()
    assert np.array_equal(rle_to_mask(mask_to_rle(mask), width=53, height=37), mask)


def test_labels_round_trip_through_results():
    mask = random_mask(seed=1)
    regions = [LSRegion(3, 4, 20, 30, "Localized Blur", "smeared cheek"), LSRegion(0, 0, 53, 37, "Abnormal Texture")]
    results = labels_to_results(mask=mask, regions=regions, width=53, height=37)
    back = results_to_labels(results, width=53, height=37)
    assert np.array_equal(back.mask, mask)
    assert [(r.label, r.caption) for r in back.regions] == [
        ("Localized Blur", "smeared cheek"), ("Abnormal Texture", "")
    ]
    for got, want in zip(back.regions, regions):
        assert (got.x1, got.y1, got.x2, got.y2) == pytest.approx((want.x1, want.y1, want.x2, want.y2), abs=1e-6)


def test_no_artifacts_choice_and_empty_mask():
    results = [{"type": "choices", "from_name": "no_artifacts", "value": {"choices": ["No artifacts"]}}]
    labels = results_to_labels(results, width=10, height=10)
    assert labels.no_artifacts and labels.mask is None and labels.regions == []


@pytest.mark.parametrize("result, message", [
    ({"type": "brushlabels", "value": {"format": "rle", "rle": [1, 2, 3]}}, "RLE"),
    ({"type": "brushlabels", "original_width": 99, "original_height": 10,
      "value": {"format": "rle", "rle": mask_to_rle(np.zeros((10, 99)))}}, "99x10 image"),
    ({"type": "rectanglelabels", "value": {"x": 1, "y": 1, "width": 5, "height": 5, "rectanglelabels": []}},
     "exactly one class"),
])
def test_bad_results_raise_conversion_error(result, message):
    with pytest.raises(ConversionError, match=message):
        results_to_labels([result], width=10, height=10)


def test_percent_boxes_are_clamped_to_the_image():
    assert pixel_box({"x": 90, "y": -5, "width": 20, "height": 50}, width=200, height=100) == (180, 0, 200, 45)


def test_labeling_config_is_valid_xml_with_one_label_per_class():
    xml = labeling_config([("Illegible Letters", 'Text that is "garbled" & <unreadable>'), ("Localized Blur", "x")])
    root = etree.fromstring(xml.encode())
    labels = root.findall("./RectangleLabels/Label")
    assert [label.get("value") for label in labels] == ["Illegible Letters", "Localized Blur"]
    assert labels[0].get("hint") == 'Text that is "garbled" & <unreadable>'
    assert root.find("./TextArea").get("perRegion") == "true"


def _bomb(claimed: int, body: list[int]) -> list[int]:
    return list(claimed.to_bytes(4, "big")) + body


@pytest.mark.parametrize("rle, message", [
    (_bomb(0xFFFFFFFF, mask_to_rle(np.zeros((10, 10)))[4:]), "header claims 4294967295 values"),  # 4 GiB asked
    (_bomb(10 * 10 * 4 - 1, mask_to_rle(np.zeros((10, 10)))[4:]), "header claims 399 values"),
    ([0, 0, 1, 144, 300, 1], "not a byte"),
    ([0, 0, 1, 144, "x", 1], "not a byte"),
    ([0, 0, 1, 144, 1.5, 1], "not a byte"),
    (list(range(256)) * 20, "too long"),
    ({"counts": [1, 2]}, "not a list"),
])
def test_a_hostile_rle_is_refused_before_anything_is_allocated(rle, message):
    import tracemalloc

    tracemalloc.start()
    try:
        with pytest.raises(ConversionError, match=f"malformed brush RLE: .*{message}"):
            rle_to_mask(rle, width=10, height=10)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000  # the 4 GiB header never reaches numpy
