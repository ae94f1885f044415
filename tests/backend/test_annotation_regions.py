"""One helper turns a class key (slug, SynArtifact code or name) into a region of the current taxonomy."""

import pytest

from backend.annotations.services import region_inputs
from backend.core.exceptions import ApplicationError
from backend.taxonomy.selectors import artifact_class_list

pytestmark = pytest.mark.django_db


def test_a_slug_a_code_and_a_name_name_the_same_class():
    blur = artifact_class_list().get(slug="localized-blur")
    regions = region_inputs([(blur.slug, (0, 0, 4, 4), "a"), (blur.code, (1, 1, 5, 5), "b"),
                             (blur.name, (2, 2, 6, 6), None)])
    assert [r.artifact_class for r in regions] == [blur] * 3
    assert [(r.x1, r.y2, r.caption) for r in regions] == [(0, 4, "a"), (1, 5, "b"), (2, 6, "")]


def test_an_unknown_class_is_named_or_left_out_when_asked():
    blur = artifact_class_list().get(slug="localized-blur")
    with pytest.raises(ApplicationError, match="unknown artifact class 'ghosts'"):
        region_inputs([("ghosts", (0, 0, 1, 1), "")])
    kept = region_inputs([("ghosts", (0, 0, 1, 1), ""), (blur.slug, (0, 0, 2, 2), "")], skip_unknown=True)
    assert [r.artifact_class for r in kept] == [blur]
    assert region_inputs([]) == []
