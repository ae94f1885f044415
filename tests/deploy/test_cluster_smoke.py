"""`make cluster-smoke`: the whole loop on a multi-host Flawmap (tests/deploy/cluster.py), driven over HTTP alone.

Ingest images, create a campaign and push, label in the real Label Studio through its API, see the labels arrive
through the ingress host, train on the gpu host, see its pre-labels, build a dataset version, export it on the io
host and download the archive from the web host (its SHA256SUMS hold). Then `kill -9` the gpu host mid-training
and start a fresh one (new scratch folder, empty model cache): the reaper on the io host retries the job and the
new host finishes it. No folder is shared between hosts, so anything that only worked through a shared disk
fails here."""

import hashlib
import io
import tarfile
import uuid

import numpy as np
import pytest
import requests
from django.db import connection
from rest_framework.authtoken.models import Token

from annotator.converter import LSRegion, labels_to_results
from backend.core.roles import Role
from backend.core.users import user_get_or_create_with_role
from tests.celery_worker import worker_env
from tests.conftest import png_bytes
from tests.datasets.helpers import seeds_covering_splits
from tests.deploy.cluster import Cluster, wait_for
from tests.reliability.conftest import PrivateRedis

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

W, H = 48, 32
LABELLED, UNLABELLED = 12, 2


@pytest.fixture
def cluster(labelstudio_server, tmp_path, settings):
    if connection.vendor != "postgresql":
        pytest.skip("the hosts share the PostgreSQL test database")
    settings.LABEL_STUDIO_URL, settings.LABEL_STUDIO_API_KEY = labelstudio_server.url, labelstudio_server.api_key
    redis = PrivateRedis(tmp_path)
    redis.start()
    shared = {**worker_env(connection.settings_dict["NAME"]),
              "CELERY_BROKER_URL": redis.url, "CELERY_RESULT_BACKEND": redis.url,
              "FLAWMAP_WEBHOOK_STREAM_URL": redis.url,
              "LABEL_STUDIO_URL": labelstudio_server.url, "LABEL_STUDIO_API_KEY": labelstudio_server.api_key,
              # a killed host's job is reaped within seconds: beats every second, lost after 8 s, reaper every 3 s
              "FLAWMAP_JOB_HEARTBEAT_SECONDS": "1", "FLAWMAP_JOB_HEARTBEAT_TIMEOUT_SECONDS": "8",
              "FLAWMAP_JOB_REAP_EVERY_SECONDS": "3", "FLAWMAP_SEGMENTER_MAX_ITERS": "2"}
    for key in ("FLAWMAP_EXPORT_DIR", "FLAWMAP_MODEL_CACHE_DIR", "FLAWMAP_TRAIN_WORK_DIR", "FLAWMAP_MEDIA_ROOT"):
        shared.pop(key, None)  # every host has its own (cluster.Host.env)
    cluster = Cluster(tmp_path / "hosts", shared)
    try:
        cluster.start_s3()
        cluster.start_web()
        cluster.start_ingress()
        cluster.start_worker("io", queues="default,io", beat=True)
        cluster.start_worker("gpu", queues="gpu")
        yield cluster
    except BaseException:
        print(cluster.logs())
        raise
    finally:
        cluster.stop()
        redis.stop()


class Api:
    def __init__(self, base: str, token: str) -> None:
        self.base, self.session = base + "/api", requests.Session()
        self.session.headers["Authorization"] = f"Token {token}"

    def __call__(self, method: str, path: str, *, expect: int | tuple = (200, 201, 202), **kwargs):
        response = self.session.request(method, self.base + path, timeout=120, **kwargs)
        expected = expect if isinstance(expect, tuple) else (expect,)
        assert response.status_code in expected, (method, path, response.status_code, response.text[:2000])
        return response

    def job_done(self, job_id: int) -> dict | None:
        job = self("GET", f"/jobs/{job_id}/").json()
        if job["status"] in ("failed", "cancelled"):
            raise AssertionError(f"job {job_id} {job['status']}: {job.get('message')} {job.get('traceback')}")
        return job if job["status"] == "succeeded" else None


def _ingest(api: Api, seeds: list[int], generator: str) -> list[int]:
    files = [("files", (f"img-{seed}.png", png_bytes(W, H, seed=seed), "image/png")) for seed in seeds]
    body = api("POST", "/images/", files=files, data={"generator": generator, "task": "text_to_image"}).json()
    assert body["ingested"] == len(seeds) and not body["rejected"], body
    return body["images"]


def _label_in_label_studio(ls, project: int) -> int:
    """Submit one mask + box per task through Label Studio's API, as its UI would."""
    tasks = list(ls.tasks.list(project=project))
    for task in tasks:
        mask = np.zeros((H, W), dtype=bool)
        mask[:, : W // 2] = True
        result = labels_to_results(mask=mask, regions=[LSRegion(0, 0, W // 2, H, "Duplicated Components", "left")],
                                   width=W, height=H)
        ls.annotations.create(id=task.id, result=result, lead_time=12.0)
    return len(tasks)


def _passes(api: Api, image_id: int) -> list[dict]:
    return api("GET", f"/images/{image_id}/annotations/").json()["results"]


def _human_passes(api: Api, image_id: int) -> int:
    return sum(1 for a in _passes(api, image_id) if a["user"])


def _model_passes(api: Api, image_id: int) -> int:
    return sum(1 for a in _passes(api, image_id) if a["model_version"])


def test_the_loop_runs_across_hosts_that_share_only_postgres_redis_and_s3(cluster):
    from annotator.client import ls_client

    admin = user_get_or_create_with_role(username=f"ops-{uuid.uuid4().hex[:6]}", role=Role.ADMIN)
    api = Api(cluster.web_url, Token.objects.get_or_create(user=admin)[0].key)
    generator = f"gen-{uuid.uuid4().hex[:6]}"
    generator_id = api("POST", "/generators/", json={"name": generator}).json()["id"]

    labelled = _ingest(api, seeds_covering_splits(LABELLED, size=(W, H), start=4100), generator)
    unlabelled = _ingest(api, [9100 + i for i in range(UNLABELLED)], generator)
    campaign = api("POST", "/campaigns/", json={"name": f"cluster-{generator}", "generator": generator_id}).json()
    push = api("POST", f"/campaigns/{campaign['id']}/push", json={"image_ids": labelled}).json()
    wait_for(lambda: api.job_done(push["job"]), timeout=180, what="the push job on the io host")

    ls = ls_client().sdk
    try:
        assert _label_in_label_studio(ls, campaign["ls_project_id"]) == LABELLED
        wait_for(lambda: all(_human_passes(api, i) for i in labelled), timeout=180,
                 what="the labels to arrive through the ingress host")

        dataset = api("POST", "/datasets/", json={"name": f"cluster-{generator}", "generators": [generator_id]}).json()
        train = api("POST", "/models/train", json={"dataset": dataset["id"], "max_iters": 2}).json()
        trained = wait_for(lambda: api.job_done(train["job"]), timeout=600, what="training on the gpu host")
        model = api("GET", f"/models/{trained['result']['model_version']}/").json()
        assert model["status"] == "production", model
        wait_for(lambda: all(_model_passes(api, i) for i in unlabelled), timeout=300,
                 what="the new production model's pre-labels of the unlabelled images")

        version = api("POST", f"/datasets/{dataset['id']}/versions/", json={"note": "cluster"}).json()
        wait_for(lambda: api("GET", f"/datasets/{dataset['id']}/versions/{version['number']}/").json()["status"]
                 == "ready", timeout=180, what="the dataset version")
        export = api("POST", f"/datasets/{dataset['id']}/versions/{version['number']}/exports",
                     json={"format": "pal4vst"}).json()
        wait_for(lambda: _export_done(api, export["id"]), timeout=300, what="the export on the io host")
        archive = api("GET", f"/exports/{export['id']}/download").content  # the web host never saw the io host's disk
        _check_sha256sums(archive)

        _kill_the_gpu_host_mid_training(cluster, api, dataset["id"])
    except BaseException:
        print(cluster.logs())
        raise
    finally:
        ls.projects.delete(id=campaign["ls_project_id"])


def _export_done(api: Api, export_id: int) -> bool:
    export = api("GET", f"/exports/{export_id}/").json()
    assert export["status"] != "failed", export
    return export["status"] == "done"


def _check_sha256sums(archive: bytes) -> None:
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        files = {m.name.split("/", 1)[-1]: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    sums = [line.split("  ", 1) for line in files.pop("SHA256SUMS").decode().splitlines() if line]
    # SHA256SUMS covers the data files; manifest.json and DATASHEET.md describe this export (ids, times)
    assert {name for _, name in sums} == set(files) - {"manifest.json", "DATASHEET.md"} and len(sums) > LABELLED
    for digest, name in sums:
        assert hashlib.sha256(files[name]).hexdigest() == digest, name


def _kill_the_gpu_host_mid_training(cluster: Cluster, api: Api, dataset_id: int) -> None:
    train = api("POST", "/models/train", json={"dataset": dataset_id, "max_iters": 40}).json()
    wait_for(lambda: api("GET", f"/jobs/{train['job']}/").json()["status"] == "running", timeout=300,
             every=0.2, what="the second training to start on the gpu host")
    cluster.hosts.pop("gpu").kill()
    wait_for(lambda: api("GET", f"/jobs/{train['job']}/").json()["status"] == "failed", timeout=120,
             what="the reaper on the io host to fail the lost job")
    cluster.start_worker("gpu-2", queues="gpu")  # a fresh host: empty scratch folder, empty model cache
    retry = wait_for(lambda: [j for j in api("GET", "/jobs/", params={"kind": "train_segmenter"}).json()["results"]
                              if j.get("retry_of") == train["job"]], timeout=60, what="the retry to be queued")[0]
    done = wait_for(lambda: api.job_done(retry["id"]), timeout=900, what="the retry on the fresh gpu host")
    assert done["result"]["model_version"]
