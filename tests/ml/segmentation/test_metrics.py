import numpy as np
import pytest

from ml.segmentation.metrics import SplitScorer, image_counts


def test_iou_by_hand_with_ignored_pixels():
    gt = np.array([[1, 1, 0, 0], [1, 255, 0, 0]], np.uint8)
    pred = np.array([[1, 0, 1, 0], [1, 1, 0, 0]], np.uint8)
    # valid pixels: 7 (one 255). artifact: pred&gt = 2, pred|gt = 4. clean: 3 / 5.
    scorer = SplitScorer()
    scorer.add(pred, gt, task="faces")
    result = scorer.result()
    assert result["artifact_IoU"] == pytest.approx(2 / 4)
    assert result["clean_IoU"] == pytest.approx(3 / 5)
    assert result["mIoU"] == pytest.approx((0.5 + 0.6) / 2)
    assert result["aAcc"] == pytest.approx(5 / 7)
    assert result["tasks"]["faces"]["artifact_IoU"] == pytest.approx(0.5)


def test_split_iou_sums_counts_rather_than_averaging_images():
    scorer = SplitScorer()
    scorer.add(np.ones((1, 4), np.uint8), np.array([[1, 0, 0, 0]], np.uint8), task="a")  # 1/4
    scorer.add(np.ones((1, 4), np.uint8), np.ones((1, 4), np.uint8), task="b")  # 4/4
    result = scorer.result()
    assert result["artifact_IoU"] == pytest.approx(5 / 8)
    assert result["images"] == 2
    assert set(result["tasks"]) == {"a", "b"}


def test_artifact_iou_is_undefined_not_zero_when_no_artifact_anywhere():
    scorer = SplitScorer()
    scorer.add(np.zeros((2, 2), np.uint8), np.zeros((2, 2), np.uint8))
    result = scorer.result()
    assert result["artifact_IoU"] is None
    assert result["mIoU"] == 1.0
    assert "tasks" not in result


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="shape"):
        image_counts(np.zeros((2, 2), np.uint8), np.zeros((3, 2), np.uint8))
