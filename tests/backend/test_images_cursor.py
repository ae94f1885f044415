"""GET /api/images/ by keyset (`cursor`): every image once, in order, filters kept, no count; pages by number as
before."""

import pytest

from tests.conftest import png_bytes
from tests.factories import GeneratorFactory, make_image

pytestmark = pytest.mark.django_db


@pytest.fixture
def images():
    generator = GeneratorFactory()
    return [make_image(data=png_bytes(8, 8, seed=900 + i), generator=generator if i % 2 else None)
            for i in range(7)]


def walk(client, url):
    ids, pages = [], 0
    while url:
        body = client.get(url).json()
        assert "count" not in body
        ids += [row["id"] for row in body["results"]]
        url, pages = body["next"], pages + 1
    return ids, pages


@pytest.mark.parametrize("ordering,key", [("", lambda i: (-i.created_at.timestamp(), -i.pk)),
                                          ("&ordering=id", lambda i: i.pk), ("&ordering=-id", lambda i: -i.pk)])
def test_cursor_pages_walk_every_image_once_in_order(viewer_client, images, ordering, key):
    ids, pages = walk(viewer_client, f"/api/images/?cursor=&page_size=3{ordering}")
    assert ids == [i.pk for i in sorted(images, key=key)] and pages == 3


def test_cursor_keeps_filters_and_refuses_an_ordering_without_keyset(viewer_client, images):
    generator = images[1].generator
    ids, _ = walk(viewer_client, f"/api/images/?cursor=&page_size=2&ordering=id&generator={generator.pk}")
    assert ids == [i.pk for i in images if i.generator_id == generator.pk]
    response = viewer_client.get("/api/images/?cursor=&ordering=par")
    assert response.status_code == 400 and "cursor" in response.json()["detail"]
    page = viewer_client.get("/api/images/?page=2&page_size=3").json()  # the page-number contract is unchanged
    assert page["count"] == 7 and len(page["results"]) == 3
