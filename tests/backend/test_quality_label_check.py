"""The label-error finder's rows refreshed for a batch of images: the same rows as one image at a time, in the
same number of queries whatever the batch size."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from backend.quality.label_check import image_label_check_refresh, image_label_checks_refresh
from backend.quality.models import ImageLabelCheck
from tests.dashboard.browse.gallery_seed import EXPECTED, seed_mask_pairs

pytestmark = pytest.mark.django_db

FIELDS = ("representative_id", "human_id", "model_id", "disagreement", "differing_pixels", "uncertainty")


def rows() -> dict[int, tuple]:
    return {c.image_id: tuple(getattr(c, f) for f in FIELDS) for c in ImageLabelCheck.objects.all()}


def test_a_batch_gives_the_rows_of_one_image_at_a_time_in_a_fixed_number_of_queries(
        django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        pairs = seed_mask_pairs()
    ImageLabelCheck.objects.all().delete()
    for image_id in pairs.values():
        image_label_check_refresh(image_id=image_id)
    one_at_a_time = rows()
    assert {name: one_at_a_time[pairs[name]][3:5] for name in EXPECTED} == {
        name: (pytest.approx(d) if d is not None else None, n) for name, (d, n) in EXPECTED.items()}

    ImageLabelCheck.objects.all().delete()
    never_labelled = max(pairs.values()) + 1000  # no pass: no row, and no error
    with CaptureQueriesContext(connection) as all_of_them:
        written = image_label_checks_refresh(image_ids=[*pairs.values(), never_labelled])
    assert rows() == one_at_a_time and set(written) == set(pairs.values())
    with CaptureQueriesContext(connection) as two:
        image_label_checks_refresh(image_ids=[pairs["agree"], never_labelled])
    assert len(all_of_them) == len(two)
