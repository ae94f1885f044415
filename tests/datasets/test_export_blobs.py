"""API exports live in blob storage, so the web host that serves a download need not be the worker that wrote it:
the worker's FLAWMAP_EXPORT_DIR is only scratch. On S3 (a real S3 API: moto's server) the download redirects to a
short-lived pre-signed link; on local storage the web process streams the blob."""

import hashlib
import io
import shutil
import tarfile
import urllib.request
from contextlib import contextmanager
from urllib.parse import parse_qs, urlsplit

import pytest

from backend.core.blobs import storage_keys
from backend.jobs.lease import JobLeaseLost
from datasets.export_run import export_run, export_to_path
from datasets.models import Export
from datasets.services import dataset_create, dataset_version_build, dataset_version_start
from tests.backend.storage_checks import assert_storage_matches_tables
from tests.datasets.helpers import labelled_image
from tests.s3_server import bucket_keys

pytestmark = pytest.mark.django_db


@pytest.fixture
def version(annotator_user):
    for seed in range(3):
        labelled_image(annotator_user, seed=seed)
    return dataset_version_build(version=dataset_version_start(dataset=dataset_create(name="hosts")))


def _export_on_host_a(admin_client, version, host_a, settings, django_capture_on_commit_callbacks) -> dict:
    """Request an export through the API; its job runs with host A's scratch folder."""
    settings.FLAWMAP_EXPORT_DIR = str(host_a)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(f"/api/datasets/{version.dataset_id}/versions/1/exports", {"format": "pal4vst"},
                                     format="json")
    assert response.status_code == 202, response.content
    export = admin_client.get(f"/api/exports/{response.json()['id']}/").json()
    assert export["status"] == "done", export["error"]
    return export


def _members(archive: bytes) -> dict[str, bytes]:
    """Every file of the archive by its path inside the export folder."""
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        return {m.name.split("/", 1)[1]: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def _assert_sums_hold(files: dict[str, bytes]) -> None:
    """SHA256SUMS lists every data file (not manifest, datasheet or itself) with its true sum."""
    listed = dict(reversed(line.split("  ", 1)) for line in files["SHA256SUMS"].decode().splitlines())
    data = {name for name in files if name not in ("SHA256SUMS", "manifest.json", "DATASHEET.md")}
    assert set(listed) == data and data
    for name in data:
        assert hashlib.sha256(files[name]).hexdigest() == listed[name], name


def test_an_export_built_on_one_host_downloads_on_another_through_a_presigned_link(
        s3_blobs, s3_client, admin_client, annotator_client, version, settings, tmp_path,
        django_capture_on_commit_callbacks):  # s3_blobs first: the images are stored in the bucket too
    host_a = tmp_path / "host-a" / "exports"
    export = _export_on_host_a(admin_client, version, host_a, settings, django_capture_on_commit_callbacks)
    row = Export.objects.select_related("archive").get(pk=export["id"])
    assert list(host_a.iterdir()) == []  # nothing kept on the worker: the folder was scratch
    assert row.archive.key in bucket_keys(s3_client, s3_blobs) and row.archive.content_type == "application/gzip"
    # Not `Content-Encoding: gzip` (a .tar.gz name would give it): clients would unpack the archive on the way.
    assert "ContentEncoding" not in s3_client.head_object(Bucket=s3_blobs, Key=row.archive.key)
    shutil.rmtree(tmp_path / "host-a")

    # Host B: another scratch folder, never written; the web process there only signs a link.
    settings.FLAWMAP_EXPORT_DIR = str(tmp_path / "host-b" / "exports")
    settings.FLAWMAP_EXPORT_LINK_SECONDS = 120
    refused = annotator_client.get(export["download_url"])
    assert refused.status_code == 403 and "Location" not in refused
    response = admin_client.get(export["download_url"])
    assert response.status_code == 302, response.content
    link = response["Location"]
    query = parse_qs(urlsplit(link).query)
    assert query["X-Amz-Expires"] == ["120"] and row.archive.key in urlsplit(link).path
    with urllib.request.urlopen(link, timeout=30) as fetched:  # no credentials: the link alone grants it
        archive = fetched.read()
        disposition = fetched.headers["Content-Disposition"]
    assert f'filename="{row.path}"' in disposition and row.path == f"hosts-v1-pal4vst-{row.pk}.tar.gz"

    assert hashlib.sha256(archive).hexdigest() == export["archive_sha256"] == row.archive_id
    files = _members(archive)
    _assert_sums_hold(files)
    # The same SHA256SUMS as a CLI export of the same version written on this host.
    local = export_to_path(version=version, fmt="pal4vst", out=tmp_path / "cli")
    assert files["SHA256SUMS"] == (local / "SHA256SUMS").read_bytes()
    assert_storage_matches_tables()


def test_a_presigned_link_is_signed_for_the_public_s3_address(s3_blobs, s3_endpoint, admin_client, version, settings,
                                                              tmp_path, django_capture_on_commit_callbacks):
    """Browsers may reach S3 at another address than the hosts (FLAWMAP_S3_PUBLIC_ENDPOINT_URL)."""
    export = _export_on_host_a(admin_client, version, tmp_path / "a", settings, django_capture_on_commit_callbacks)
    public = s3_endpoint.replace("127.0.0.1", "localhost")
    settings.FLAWMAP_S3_PUBLIC_ENDPOINT_URL = public
    link = admin_client.get(export["download_url"])["Location"]
    assert link.startswith(public + "/")
    with urllib.request.urlopen(link, timeout=30) as fetched:  # the signature holds for that host
        assert hashlib.sha256(fetched.read()).hexdigest() == export["archive_sha256"]


def test_on_local_storage_the_web_process_streams_the_blob_whatever_its_export_folder(
        admin_client, version, settings, tmp_path, django_capture_on_commit_callbacks):
    host_a = tmp_path / "host-a"
    export = _export_on_host_a(admin_client, version, host_a, settings, django_capture_on_commit_callbacks)
    assert list(host_a.iterdir()) == []
    settings.FLAWMAP_EXPORT_DIR = str(tmp_path / "host-b")
    response = admin_client.get(export["download_url"])
    assert response.status_code == 200 and response["Content-Type"] == "application/gzip"
    assert f'filename="hosts-v1-pal4vst-{export["id"]}.tar.gz"' in response["Content-Disposition"]
    archive = b"".join(response.streaming_content)
    assert hashlib.sha256(archive).hexdigest() == export["archive_sha256"]
    _assert_sums_hold(_members(archive))
    assert_storage_matches_tables()


def test_a_refused_publish_leaves_no_archive_in_blob_storage(version, settings, tmp_path):
    """The archive is uploaded before the publishing transaction; if the job's lease is gone by then, it goes."""
    settings.FLAWMAP_EXPORT_DIR = str(tmp_path / "exports")
    before = storage_keys()

    @contextmanager
    def lost_lease():
        raise JobLeaseLost("reaped meanwhile")
        yield

    export = Export.objects.create(version=version, format="coco")
    with pytest.raises(JobLeaseLost):
        export_run(export=export, out=tmp_path / "exports" / "x.tar.gz", confined=True, publishing=lost_lease)
    export.refresh_from_db()
    assert export.status == Export.Status.RUNNING and export.archive_id is None
    assert storage_keys() == before and list((tmp_path / "exports").iterdir()) == []
    assert_storage_matches_tables()


def test_an_api_export_must_be_an_archive(version, settings, tmp_path):
    settings.FLAWMAP_EXPORT_DIR = str(tmp_path / "exports")
    export = Export.objects.create(version=version, format="coco")
    with pytest.raises(Exception, match="only an archive"):
        export_run(export=export, out=tmp_path / "exports" / "folder", confined=True)
    export.refresh_from_db()
    assert export.status == Export.Status.FAILED and "only an archive" in export.error
