import numpy as np
import pytest

from ml.rectify import connected_components, crop_around, dilate, flagged_regions
from ml.rectify.components import Component


def box(x1, y1, x2, y2):
    return Component(label=1, x1=x1, y1=y1, x2=x2, y2=y2, area=(x2 - x1) * (y2 - y1))


def test_crop_side_is_one_and_a_half_times_the_longest_axis_centred_on_the_component():
    crop = crop_around(box(100, 120, 140, 140), height=400, width=400)  # 40 wide, 20 high
    assert crop.side == 60
    assert (crop.x + crop.side / 2, crop.y + crop.side / 2) == (120, 130)  # same centre as the box
    tall = crop_around(box(10, 50, 20, 150), height=400, width=400)  # 10 wide, 100 high
    assert tall.side == 150 and tall.y == 25 and tall.x == 0  # shifted right to stay in the image


@pytest.mark.parametrize("corner", ["top-left", "bottom-right"])
def test_crop_at_a_border_is_shifted_inside_keeping_its_side(corner):
    component = box(0, 0, 30, 20) if corner == "top-left" else box(170, 280, 200, 300)
    crop = crop_around(component, height=300, width=200)
    assert crop.side == 45
    assert 0 <= crop.x and crop.x + crop.side <= 200 and 0 <= crop.y and crop.y + crop.side <= 300
    # it still holds the whole component
    assert crop.x <= component.x1 and component.x2 <= crop.x + crop.side
    assert crop.y <= component.y1 and component.y2 <= crop.y + crop.side


def test_crop_never_exceeds_the_short_side_and_small_components_get_min_side():
    crop = crop_around(box(10, 20, 190, 60), height=100, width=200)  # 1.5 * 180 = 270 > short side 100
    assert crop.side == 100 and crop.y == 0 and 0 <= crop.x <= 100
    assert crop_around(box(50, 50, 54, 52), height=100, width=100, min_side=32).side == 32
    assert crop_around(box(50, 50, 54, 52), height=100, width=100).side == 6


def test_several_components_each_get_their_own_box_and_crop():
    mask = np.zeros((120, 160), np.uint8)
    mask[5:15, 10:30] = 1  # 20 x 10
    mask[60:100, 100:110] = 1  # 10 x 40
    mask[110:120, 150:160] = 1  # in the bottom-right corner
    mask[50, 50] = 1  # a single pixel
    labels, components = connected_components(mask)
    boxes = sorted((c.x1, c.y1, c.x2, c.y2, c.area) for c in components)
    assert boxes == [(10, 5, 30, 15, 200), (50, 50, 51, 51, 1), (100, 60, 110, 100, 400), (150, 110, 160, 120, 100)]
    assert labels.max() == 4 and np.array_equal(labels > 0, mask > 0)
    crops = {(c.x1, c.y1): crop_around(c, height=120, width=160) for c in components}
    assert crops[(10, 5)].side == 30 and crops[(100, 60)].side == 60
    corner = crops[(150, 110)]
    assert corner.side == 15 and (corner.x, corner.y) == (145, 105)


def test_diagonal_neighbours_are_one_component_and_dilation_merges_close_ones():
    mask = np.zeros((50, 50), np.uint8)
    mask[10, 10] = mask[11, 11] = 1
    assert len(connected_components(mask)[1]) == 1
    mask[10, 16] = 1  # 5 px gap
    assert len(connected_components(mask)[1]) == 2
    assert len(connected_components(dilate(mask, 3))[1]) == 1
    grown = dilate(mask, 3)
    assert grown[10, 13] == 1 and grown[10, 20] == 0 and grown[0, 0] == 0


def test_flagged_regions_are_boxes_with_area_largest_first_without_specks():
    mask = np.zeros((100, 100), np.uint8)
    mask[0:10, 0:10] = 1
    mask[50:80, 40:60] = 1
    mask[90, 90] = 1
    regions = flagged_regions(mask, min_area=4)
    assert [(r["x1"], r["y1"], r["x2"], r["y2"], r["area"]) for r in regions] == [(40, 50, 60, 80, 600),
                                                                                 (0, 0, 10, 10, 100)]
    assert regions[0]["par"] == pytest.approx(0.06)
    assert flagged_regions(np.zeros((5, 5))) == []
