"""Integer query parameters are parsed, not trusted: a Unicode digit, a float or an id past the database's range
is a 400 naming the parameter, never a 500."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("value", ["²", "٣x", "1.5", "1e9", "-1", "99999999999999999999"])
@pytest.mark.parametrize("url, name", [
    ("/api/taxonomy/?version={}", "version"),
    ("/api/jobs/?subject_id={}", "subject_id"),
    ("/api/generators/leaderboard?source=model&model_version={}", "model_version"),
])
def test_a_bad_integer_is_a_400_naming_the_parameter(viewer_client, url, name, value):
    r = viewer_client.get(url.format(value))
    assert r.status_code == 400, r.content
    assert r.json()["detail"].startswith(f"{name}: ")


def test_a_good_integer_still_works(viewer_client):
    assert viewer_client.get("/api/taxonomy/?version=1").status_code == 200
    assert viewer_client.get("/api/jobs/?subject_id=3").status_code == 200
