import numpy as np

from backend.annotations.masks import mask_array_to_canonical
from backend.annotations.services import RegionInput, annotation_create
from backend.taxonomy.selectors import artifact_class_list
from tests.conftest import png_bytes
from tests.factories import make_image


def labelled_image(user, *, seed: int, generator=None, task_slug="text_to_image", size=(24, 16), rows=3, **fields):
    """An ingested image with one human annotation: a mask on the first `rows` rows and a box over it."""
    w, h = size
    image = make_image(data=png_bytes(w, h, seed=seed), generator=generator, task_slug=task_slug, **fields)
    mask = np.zeros((h, w), dtype=bool)
    mask[:rows] = True
    cls = artifact_class_list().get(slug="localized-blur")
    annotation_create(image=image, user=user, mask=mask_array_to_canonical(mask), lead_time=30.0,
                      regions=[RegionInput(0, 0, w, rows, cls, f"blur {seed}")] if rows else [])
    return image
