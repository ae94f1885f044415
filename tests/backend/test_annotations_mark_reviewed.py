"""annotations_mark_reviewed (backend/annotations/services.py): the reviewers' "accept as is", used by the
browser's image page. The role rule is annotation_create's, so it holds for every caller."""

import numpy as np
import pytest

from backend.annotations.masks import mask_array_to_canonical
from backend.annotations.models import Annotation
from backend.annotations.services import annotation_create, annotations_mark_reviewed, region_inputs
from backend.core.exceptions import ApplicationError, RoleRefused
from backend.mlmodels.models import ModelVersion
from backend.taxonomy.selectors import artifact_class_list
from tests.conftest import _user, png_bytes
from tests.factories import make_image

pytestmark = pytest.mark.django_db


@pytest.fixture
def labelled(annotator_user):
    image = make_image(data=png_bytes(20, 10, seed=3))
    mask = np.zeros((10, 20), dtype=bool)
    mask[2:6, 3:9] = True
    klass = next(iter(artifact_class_list()))
    return annotation_create(image=image, user=annotator_user, lead_time=12.5, prelabel="shown",
                             mask=mask_array_to_canonical(mask),
                             regions=region_inputs([(klass.slug, (3, 2, 9, 6), "bent")]))


def test_a_reviewer_accepts_a_pass_as_it_is(labelled):
    reviewer = _user("rita-reviewer", "reviewer")
    [reviewed] = annotations_mark_reviewed(annotations=[labelled], requested_by=reviewer)
    assert reviewed.previous_id == labelled.pk and reviewed.status == Annotation.Status.REVIEWED
    assert (reviewed.user_id, reviewed.lead_time, reviewed.prelabel, reviewed.submitted_at) == (
        labelled.user_id, 12.5, "shown", labelled.submitted_at)
    assert reviewed.masks.get().blob_id == labelled.masks.get().blob_id
    [region] = reviewed.regions.all()
    assert (region.x1, region.y1, region.x2, region.y2, region.caption) == (3, 2, 9, 6, "bent")
    labelled.refresh_from_db()
    assert not labelled.is_current


def test_below_reviewer_nothing_is_read_or_stored(labelled, annotator_user):
    with pytest.raises(RoleRefused, match="only a reviewer or an admin"):
        annotations_mark_reviewed(annotations=[labelled], requested_by=annotator_user)
    assert Annotation.objects.count() == 1


def test_model_passes_replaced_passes_and_an_empty_choice_are_refused(labelled, admin_user):
    model = ModelVersion.objects.create(kind="segmenter", name="m", version="1")
    model_pass = annotation_create(image=labelled.image, model_version=model)
    for annotations, message in (([], "at least one pass"), ([model_pass], "is a model pass"),
                                 ([labelled, labelled], "already replaced")):
        with pytest.raises(ApplicationError, match=message):
            annotations_mark_reviewed(annotations=annotations, requested_by=admin_user)
    assert Annotation.objects.filter(status=Annotation.Status.REVIEWED).count() == 0
