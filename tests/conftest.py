import io

import numpy as np
import pytest
from django.contrib.auth.models import Group, User
from PIL import Image
from rest_framework.test import APIClient


def pytest_collection_modifyitems(items):
    """Every transactional test (transaction=True, transactional_db, live_server) rolls back by serialization.

    A transactional test ends with a flush, which empties the rows data migrations made (the role groups, the
    taxonomy) and, unless serialized rollback is on, re-creates content types through post_migrate. The next
    test then finds no `viewer` group, or a serialized test fails restoring content types that already exist;
    which test broke depended on collection order. With every one serialized, each starts from the migrated
    database and no flush re-runs post_migrate.
    """
    for item in items:
        marker = item.get_closest_marker("django_db")
        kwargs = dict(marker.kwargs) if marker else {}
        fixtures = getattr(item, "fixturenames", ())
        transactional = kwargs.get("transaction") or "transactional_db" in fixtures or "live_server" in fixtures
        if transactional and not kwargs.get("serialized_rollback"):
            kwargs.update(transaction=True, serialized_rollback=True)
            item.add_marker(pytest.mark.django_db(**kwargs), append=False)


def pytest_report_header(config):
    from django.conf import settings

    db = settings.DATABASES["default"]
    return [
        f"flawmap database: {db['ENGINE'].rsplit('.', 1)[-1]} {db.get('HOST') or db.get('NAME')}",
        f"flawmap celery broker: {settings.CELERY_BROKER_URL or 'none (eager)'}",
    ]


@pytest.fixture(autouse=True)
def blob_dir(tmp_path, settings):
    """Each test writes blobs into its own folder, so it can compare storage with the tables."""
    media = tmp_path / "media"
    backend = {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(media)}}
    settings.STORAGES = {**settings.STORAGES, "default": backend, "blobs": backend}
    return media


@pytest.fixture(autouse=True)
def no_automatic_retraining(settings):
    """Label intake would queue a training run past RETRAIN_MIN_NEW_LABELS; the loop tests opt in per
    campaign (learning.RetrainPolicy.min_new_labels), everything else keeps labelling without training."""
    settings.RETRAIN_MIN_NEW_LABELS = 10**9


@pytest.fixture(autouse=True)
def no_thumbnail_jobs(settings):
    """Every stored pass would queue a thumbnail job (and count in job lists); the browser's tests opt in."""
    settings.FLAWMAP_THUMBNAIL_JOBS = False


@pytest.fixture(autouse=True)
def throttle_counts_cleared():
    """Throttle counts live in the cache (LocMem in tests): one test's logins must not use up the next one's."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def celery_eager(settings):
    """Unit tests run tasks in-process; tests using `celery_worker` switch to the real broker."""
    from backend.config.celery import app

    settings.CELERY_TASK_ALWAYS_EAGER = True
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


def png_bytes(width=64, height=48, seed=0, mode="RGB", fmt="PNG") -> bytes:
    rng = np.random.default_rng(seed)
    shape = (height, width, 3) if mode == "RGB" else (height, width)
    arr = rng.integers(0, 256, size=shape, dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr, mode=mode).save(buf, format=fmt)
    return buf.getvalue()


def mask_bytes(mask: np.ndarray, scale: int = 255) -> bytes:
    buf = io.BytesIO()
    Image.fromarray((mask != 0).astype(np.uint8) * scale, mode="L").save(buf, format="PNG")
    return buf.getvalue()


def _user(username: str, role: str | None) -> User:
    user = User.objects.create_user(username=username, password="pw-" + username)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def admin_user(db):
    return _user("alice-admin", "admin")


@pytest.fixture
def annotator_user(db):
    return _user("anna-annotator", "annotator")


@pytest.fixture
def viewer_user(db):
    return _user("victor-viewer", "viewer")


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def admin_client(admin_user):
    return _client(admin_user)


@pytest.fixture
def annotator_client(annotator_user):
    return _client(annotator_user)


@pytest.fixture
def viewer_client(viewer_user):
    return _client(viewer_user)


from tests.celery_worker import celery_worker, tasks_on_test_broker, use_celery_worker  # noqa: E402,F401  (fixtures)
from tests.labelstudio_server import labelstudio_script, labelstudio_server  # noqa: E402,F401  (fixtures)
from tests.s3_server import s3_blobs, s3_bucket, s3_client, s3_endpoint  # noqa: E402,F401  (fixtures)


def upload(name: str, data: bytes) -> io.BytesIO:
    """A file object as a multipart upload in APIClient.post(..., format="multipart")."""
    f = io.BytesIO(data)
    f.name = name
    return f


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory):
    """A small synthetic artifact set (PAL4VST layout) made by ml.synthetic."""
    from ml.synthetic import generate_dataset

    root = tmp_path_factory.mktemp("synthetic")
    generate_dataset(root, n=20, size=96, seed=3)
    return root


@pytest.fixture(scope="session")
def trained(tmp_path_factory, synthetic_root):
    """One CPU iteration of the tiny segmenter config: a real (if useless) checkpoint + metrics.json."""
    import os

    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")  # mmengine would train on a GPU if one were visible
    from ml.segmentation.config import TINY_CONFIG
    from ml.segmentation.train import train

    work_dir = tmp_path_factory.mktemp("train")
    metrics = train(config=TINY_CONFIG, data=synthetic_root, work_dir=work_dir, max_iters=1, device="cpu", seed=0)
    return work_dir, metrics
