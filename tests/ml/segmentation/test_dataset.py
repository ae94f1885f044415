import numpy as np
import pytest
from PIL import Image

from ml.segmentation.components import PAL4VSTDataset


def _write(root, relative, size=(8, 8), label=True, suffix=".png"):
    image = root / "images" / "val" / (relative + suffix)
    image.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((*size, 3), np.uint8)).save(image)
    if label:
        path = root / "labels" / "val" / (relative + ".png")
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.zeros(size, np.uint8)).save(path)


def _dataset(root):
    return PAL4VSTDataset(data_root=str(root), data_prefix=dict(img_path="images/val", seg_map_path="labels/val"),
                          pipeline=[], lazy_init=False)


def test_sub_folders_become_tasks_and_jpg_is_accepted(tmp_path):
    _write(tmp_path, "top")
    _write(tmp_path, "inpainting/a", suffix=".jpg")
    _write(tmp_path, "text_to_image/b")
    items = {item["img_path"].rsplit("/", 1)[-1]: item["task"] for item in _dataset(tmp_path)}
    assert items == {"top.png": "", "a.jpg": "inpainting", "b.png": "text_to_image"}


def test_missing_label_names_the_file(tmp_path):
    _write(tmp_path, "ok")
    _write(tmp_path, "orphan", label=False)
    with pytest.raises(FileNotFoundError, match="orphan.png"):
        _dataset(tmp_path)
