"""No model in the web process: a fresh process imports the web app as gunicorn does (`backend.config.wsgi`) and
sends every URL route each method its view has, as an admin with dummy ids, plus a reward batch that passes every
check and so reaches the inference queue; torch, mmseg, mmengine, mmcv, transformers and peft must still not be
imported (tests/deploy/web_imports_probe.py)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
from django.conf import settings
from django.db import connection

from annotator.models import Campaign
from backend.annotations.models import Annotation
from backend.mlmodels.models import ModelVersion
from datasets.services import dataset_create, dataset_version_build, dataset_version_start
from tests.celery_worker import ROOT, _test_database_url
from tests.datasets.helpers import labelled_image
from tests.factories import GeneratorFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serving_every_api_route_imports_no_model_library(admin_user, blob_dir, tmp_path):
    if not settings.CELERY_BROKER_URL or connection.vendor != "postgresql":
        pytest.skip("needs the test Redis and PostgreSQL (scripts/with_test_services.py)")
    models = [ModelVersion.objects.create(kind=kind, name=kind, version="1", status="production", metrics={})
              for kind in ("segmenter", "vlm")]  # so that the reward reaches the queue; no checkpoint is read
    generator = GeneratorFactory(name="probe-gen")
    image = labelled_image(admin_user, seed=1, generator=generator)
    campaign = Campaign.objects.create(name="probe", generator=generator)
    dataset = dataset_create(name="probe-set")
    version = dataset_version_build(version=dataset_version_start(dataset=dataset, author=admin_user))
    ids = {"generator_id": generator.pk, "image_id": image.pk, "campaign_id": campaign.pk, "model_id": models[0].pk,
           "annotation_id": Annotation.objects.get(image=image).pk, "dataset_id": dataset.pk,
           "number": version.number, "a": version.number, "b": version.number}
    env = {**os.environ}
    env.update({
        "DATABASE_URL": _test_database_url(connection.settings_dict["NAME"]),
        "FLAWMAP_VAR_DIR": str(tmp_path / "var"), "FLAWMAP_MEDIA_ROOT": str(blob_dir),
        # Nobody serves this queue: the reward batch waits one second and is a 503, as with no inference worker.
        "FLAWMAP_INFERENCE_QUEUE": f"nobody-serves-{os.getpid()}",
        "FLAWMAP_INFERENCE_TIMEOUT_SECONDS": "1",
        # Label Studio refuses at once (nothing listens there): routes that call it answer 503 quickly.
        "LABEL_STUDIO_URL": f"http://127.0.0.1:{_closed_port()}", "LABEL_STUDIO_API_KEY": "probe",
        "PYTHONPATH": str(ROOT),
    })
    env.pop("DJANGO_SETTINGS_MODULE", None)  # backend.config.wsgi chooses it, as under gunicorn
    done = subprocess.run([sys.executable, "-m", "tests.deploy.web_imports_probe", admin_user.username,
                           json.dumps(ids)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    answers = report["answers"]
    assert len(answers) > 60, answers  # every route was asked: the probe found the URL conf
    assert report["after_import"] == []
    assert report["loaded"] == [], f"the web process imported {report['loaded']}: first by {report['culprits']}"
    assert answers["POST /api/reward (a valid image)"] == 503
    assert answers[f"GET /api/images/{image.pk}/file"] == 200 and answers[f"GET /browse/images/{image.pk}/"] == 200
    # no unlabelled image in the campaign's pool: nothing to push, so Label Studio is not asked
    assert answers[f"POST /api/campaigns/{campaign.pk}/next-batch (uncertainty)"] == 200
    assert answers["POST /api/reward"] == 400  # no images
    assert not [route for route, code in answers.items() if code >= 500 and code != 503], answers
