"""A `train_segmenter` job with FLAWMAP_TRAIN_NPROC=2 trains under torchrun (two gloo processes on the CPU here,
one per GPU on a GPU worker) and reports rank 0's progress to the job; the Celery task runs in-process."""

import numpy as np
import pytest

from backend.annotations.masks import mask_array_to_canonical
from backend.annotations.services import annotation_create
from backend.core.roles import Role
from backend.core.users import user_get_or_create_with_role
from backend.jobs.context import job_progress_listener
from backend.mlmodels.models import ModelVersion
from datasets.services import dataset_create
from tests.conftest import png_bytes
from tests.datasets.helpers import seeds_covering_splits
from tests.factories import make_image

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)
W, H = 40, 32


def test_a_training_job_with_two_processes_runs_torchrun_and_registers_one_model(tmp_path, settings):
    from backend.jobs.services import job_create

    settings.FLAWMAP_MODEL_CACHE_DIR = str(tmp_path / "cache")
    settings.FLAWMAP_TRAIN_WORK_DIR = str(tmp_path / "scratch")
    (tmp_path / "scratch").mkdir()
    settings.FLAWMAP_ML_DEVICE = "cpu"
    settings.FLAWMAP_TRAIN_NPROC = 2
    user = user_get_or_create_with_role(username="labeller", role=Role.ANNOTATOR)
    mask = np.zeros((H, W), bool)
    mask[:, : W // 2] = True
    for seed in seeds_covering_splits(20, size=(W, H), start=700):
        annotation_create(image=make_image(data=png_bytes(W, H, seed=seed)), user=user,
                          mask=mask_array_to_canonical(mask))
    messages = []
    with job_progress_listener(lambda job, fraction, message: messages.append(message)):
        job, _ = job_create(kind="train_segmenter", params={"dataset_id": dataset_create(name="all").pk,
                                                            "max_iters": 1})
    job.refresh_from_db()
    assert job.status == "succeeded", job.traceback
    model = ModelVersion.objects.get(pk=job.result["model_version"])
    assert model.metrics["train"]["processes"] == 2 and model.metrics["train"]["best_iter"] == 1
    assert {"iter 0/1", "iter 1/1"} <= {m.split(" loss")[0] for m in messages}  # from rank 0, through the pipe
    assert not list((tmp_path / "scratch").iterdir())  # the run's folder (and its one checkpoint) is gone
