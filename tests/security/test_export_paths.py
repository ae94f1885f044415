"""Exports stay inside FLAWMAP_EXPORT_DIR: an Export row or job whose path was edited to point elsewhere, or a
link in the export folder that leads out of it, is neither written through nor served."""

import pytest

from datasets.export_run import export_run
from datasets.models import Export
from datasets.services import dataset_create, dataset_version_build, dataset_version_start
from tests.datasets.helpers import labelled_image

pytestmark = pytest.mark.django_db

SECRET = b"the archive of someone else, or /etc/shadow"


@pytest.fixture
def export_dir(settings, tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    settings.FLAWMAP_EXPORT_DIR = str(folder)
    return folder


@pytest.fixture
def version(annotator_user):
    labelled_image(annotator_user, seed=1)
    return dataset_version_build(version=dataset_version_start(dataset=dataset_create(name="paths")))


@pytest.fixture
def outside(tmp_path):
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    (folder / "secret.tar.gz").write_bytes(SECRET)
    return folder


def _done(version, path) -> Export:
    return Export.objects.create(version=version, format="pal4vst", status=Export.Status.DONE, path=str(path))


def _assert_refused(response):
    assert response.status_code == 403, response.status_code
    assert "outside FLAWMAP_EXPORT_DIR" in response.json()["detail"]
    assert SECRET not in b"".join(getattr(response, "streaming_content", [response.content]))


def test_an_export_row_edited_to_point_outside_is_not_served(admin_client, export_dir, version, outside):
    for path in (outside / "secret.tar.gz", export_dir / ".." / "elsewhere" / "secret.tar.gz", ""):
        export = _done(version, path)
        _assert_refused(admin_client.get(f"/api/exports/{export.pk}/download"))


def test_a_link_in_the_export_folder_that_leads_out_is_not_served(admin_client, export_dir, version, outside):
    (export_dir / "paths-v1-pal4vst-1.tar.gz").symlink_to(outside / "secret.tar.gz")
    (export_dir / "linked-folder").symlink_to(outside, target_is_directory=True)
    for path in (export_dir / "paths-v1-pal4vst-1.tar.gz", export_dir / "linked-folder" / "secret.tar.gz"):
        _assert_refused(admin_client.get(f"/api/exports/{_done(version, path).pk}/download"))


def test_an_archive_inside_is_served(admin_client, export_dir, version):
    (export_dir / "ok.tar.gz").write_bytes(b"archive bytes")
    response = admin_client.get(f"/api/exports/{_done(version, export_dir / 'ok.tar.gz').pk}/download")
    assert response.status_code == 200 and b"".join(response.streaming_content) == b"archive bytes"


def test_an_api_export_is_not_written_outside_the_folder(export_dir, version, outside):
    (export_dir / "linked-folder").symlink_to(outside, target_is_directory=True)
    for out in (outside / "new.tar.gz", export_dir / ".." / "new.tar.gz", export_dir / "linked-folder" / "new.tar.gz"):
        export = Export.objects.create(version=version, format="pal4vst")
        with pytest.raises(Exception, match="outside FLAWMAP_EXPORT_DIR"):
            export_run(export=export, out=out, confined=True)
        export.refresh_from_db()
        assert export.status == Export.Status.FAILED and "outside FLAWMAP_EXPORT_DIR" in export.error
    assert sorted(p.name for p in outside.iterdir()) == ["secret.tar.gz"]
    assert not (export_dir.parent / "new.tar.gz").exists()


def test_an_edited_job_path_fails_the_job_with_the_reason(admin_client, export_dir, version, outside,
                                                         django_capture_on_commit_callbacks):
    """The job reads its path from its params (a row in the database): edited to point out, the job refuses."""
    from backend.jobs.models import Job
    from backend.jobs.services import job_run

    with django_capture_on_commit_callbacks(execute=False):
        response = admin_client.post(f"/api/datasets/{version.dataset_id}/versions/1/exports", {"format": "pal4vst"},
                                     format="json")
    assert response.status_code == 202
    export = Export.objects.get(pk=response.json()["id"])
    assert "/" not in export.job.params["out"]  # a bare name: each worker writes under its own export folder
    Job.objects.filter(pk=export.job_id).update(params={**export.job.params, "out": str(outside / "x.tar.gz")})
    assert job_run(job_id=export.job_id) == Job.Status.FAILED
    export.refresh_from_db()
    assert export.status == Export.Status.FAILED and "outside FLAWMAP_EXPORT_DIR" in export.error
    assert sorted(p.name for p in outside.iterdir()) == ["secret.tar.gz"]
