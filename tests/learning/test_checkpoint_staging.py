"""A trained candidate's checkpoint goes to blob storage (a real S3 API: moto's server) before the publishing
transaction opens; when the attempt has lost its job by then, the uploaded object is removed again."""

from contextlib import contextmanager

import pytest

from backend.core.blobs import storage_keys
from backend.jobs.lease import JobLeaseLost
from backend.mlmodels.models import ModelVersion
from datasets.services import dataset_create, dataset_version_build, dataset_version_start
from learning import training
from learning.training import CandidateKind, CandidateRun, candidate_train
from tests.backend.storage_checks import assert_storage_matches_tables
from tests.s3_server import bucket_keys

pytestmark = pytest.mark.django_db


@pytest.fixture
def copy_kind(monkeypatch, trained):
    """A candidate kind whose "training" hands over the tiny trained checkpoint: only the publishing is tested."""
    def run(**_):
        return CandidateRun(checkpoint=trained[0] / "best.pth", metrics={}, comparison={"promoted": False,
                                                                                         "reason": "not judged"})

    monkeypatch.setitem(training.CANDIDATE_KINDS, "segmenter", CandidateKind(run=run, options=()))


def test_a_refused_registration_leaves_no_checkpoint_in_the_bucket(s3_blobs, s3_client, copy_kind, settings,
                                                                   tmp_path):
    settings.FLAWMAP_TRAIN_WORK_DIR = str(tmp_path / "work")
    version = dataset_version_build(version=dataset_version_start(dataset=dataset_create(name="empty")))
    uploaded: list[set[str]] = []

    @contextmanager
    def lost_lease():
        uploaded.append(bucket_keys(s3_client, s3_blobs))  # what was there when the publish was asked for
        raise JobLeaseLost("reaped meanwhile")
        yield

    with pytest.raises(JobLeaseLost):
        candidate_train(kind="segmenter", dataset_version=version, name="unified", publishing=lost_lease)
    assert len(uploaded[0]) == 1  # the checkpoint had been uploaded before the transaction ...
    assert bucket_keys(s3_client, s3_blobs) == set() == storage_keys()  # ... and went again
    assert not ModelVersion.objects.exists()
    assert_storage_matches_tables()
