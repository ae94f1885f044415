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


def test_a_worker_without_a_broker_refuses_to_start_and_says_why():
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "CELERY_BROKER_URL": ""}
    result = subprocess.run([sys.executable, "-m", "celery", "-A", "backend.config", "worker", "--pool", "solo"],
                            cwd=Path(__file__).resolve().parents[2], env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode != 0
    assert "CELERY_BROKER_URL is not set" in result.stderr
