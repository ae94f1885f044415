import pytest

from backend.core.tasks import health
from tests.conftest import png_bytes
from tests.factories import make_image


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_task_runs_on_a_real_worker_against_the_test_database(use_celery_worker):
    make_image(data=png_bytes(seed=1))
    make_image(data=png_bytes(seed=2))
    result = health.delay()
    assert result.get(timeout=60) == {"database": "postgresql", "blobs": 2}  # the two images, stored once each
