import io

import numpy as np
import pytest
from PIL import Image

from backend.annotations.models import Annotation
from backend.images.models import GeneratedImage
from backend.jobs.models import Job
from backend.jobs.services import job_run, jobs_reap_stale
from backend.mlmodels.predictors import segmenter_predictor
from backend.mlmodels.services import model_promote, model_register
from backend.quality.models import FixJob
from backend.quality.services import fix_job_request
from ml.rectify import dilate
from tests.backend.jobs.helpers import worker_killed
from tests.backend.storage_checks import assert_storage_matches_tables
from tests.factories import GeneratorFactory, make_image

pytestmark = pytest.mark.django_db


def noise_png(width=96, height=72, seed=0) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def production_segmenter(trained, settings, tmp_path):
    settings.FLAWMAP_MODEL_CACHE_DIR = str(tmp_path / "model-cache")
    settings.FLAWMAP_ML_DEVICE = "cpu"
    model = model_register(kind="segmenter", name="unified", checkpoint_path=trained[0] / "best.pth")
    return model_promote(model_version=model)


def decoded(image) -> np.ndarray:
    from backend.core.blobs import blob_read

    return np.asarray(Image.open(io.BytesIO(blob_read(image.blob))).convert("RGB"))


def test_fix_job_stores_the_fixed_image_linked_to_its_source_with_before_after_par(
        production_segmenter, annotator_client, django_capture_on_commit_callbacks, settings):
    settings.FLAWMAP_FIX_WORKING_SIZE = 128
    source = make_image(data=noise_png(), generator=GeneratorFactory(name="sdxl"), prompt="a cat", seed=5)
    with django_capture_on_commit_callbacks(execute=True):  # the job runs when the request's transaction commits
        response = annotator_client.post(f"/api/images/{source.pk}/fix", {"dilate": 4}, format="json")
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "pending"
    job = annotator_client.get(response.json()["url"]).json()
    assert job["status"] == "done", job
    # it ran as a fix_image Job on the gpu queue, listed with the other jobs
    ran = annotator_client.get(job["job_url"]).json()
    assert (ran["id"], ran["kind"], ran["queue"], ran["status"]) == (job["job"], "fix_image", "gpu", "succeeded")
    assert ran["result"]["result"] == job["result"] and ran["progress"] == 1.0
    assert (job["mode"], job["backend"], job["dilate"]) == ("zoom", "opencv-telea", 4)
    assert job["model_version"]["name"] == "unified" and job["error"] == ""

    fixed = GeneratedImage.objects.get(pk=job["result"])
    assert fixed.fixed_from_id == source.pk and fixed.pk != source.pk
    assert (fixed.generator_id, fixed.task_id, fixed.prompt, fixed.seed) == (source.generator_id, source.task_id,
                                                                             "a cat", 5)
    assert fixed.metadata["fix"]["source_image"] == source.pk and fixed.metadata["fix"]["mode"] == "zoom"
    assert (fixed.width, fixed.height, fixed.format) == (96, 72, "PNG")

    # before/after PAR are what the production segmenter measures on the source and on the stored fix
    predictor = segmenter_predictor(production_segmenter, device="cpu")
    source_pixels, fixed_pixels = decoded(source), decoded(fixed)
    before = predictor.predict([source_pixels])
    after = predictor.predict([fixed_pixels])
    assert before.par[0] > 0
    assert job["par_before"] == pytest.approx(before.par[0]) == fixed.fix_par_before
    assert job["par_after"] == pytest.approx(after.par[0]) == fixed.fix_par_after
    # only pixels inside the dilated predicted mask changed
    region = dilate(before.masks[0], 4) != 0
    assert np.array_equal(fixed_pixels[~region], source_pixels[~region])
    assert np.any(fixed_pixels[region] != source_pixels[region])
    # the fixed image carries the segmenter's mask of it, so lists show its (model) PAR
    annotation = Annotation.objects.get(image=fixed)
    assert annotation.model_version_id == production_segmenter.pk
    assert (fixed.par, fixed.par_source) == (pytest.approx(after.par[0]), "model")

    detail = annotator_client.get(f"/api/images/{source.pk}/").json()
    assert detail["fixes"] == [fixed.pk] and detail["fixed_from"] is None
    fixed_detail = annotator_client.get(f"/api/images/{fixed.pk}/").json()
    assert fixed_detail["fixed_from"] == source.pk and fixed_detail["fix_par_after"] == fixed.fix_par_after
    polled = annotator_client.get(f"/api/quality/fixes/{job['id']}/").json()
    assert polled["status"] == "done" and polled["result_url"].endswith(f"/api/images/{fixed.pk}/")
    assert_storage_matches_tables()


def test_fix_job_is_idempotent_and_the_same_fix_gives_the_same_image(production_segmenter, settings,
                                                                     django_capture_on_commit_callbacks,
                                                                     annotator_client):
    settings.FLAWMAP_FIX_WORKING_SIZE = 64
    source = make_image(data=noise_png(seed=1))
    results = []
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            url = annotator_client.post(f"/api/images/{source.pk}/fix", {"mode": "whole"}, format="json").json()["url"]
        results.append(annotator_client.get(url).json())
    assert results[0]["result"] == results[1]["result"] is not None  # same bytes: one image
    assert GeneratedImage.objects.filter(fixed_from=source).count() == 1
    fix = FixJob.objects.get(pk=results[0]["id"])
    finished = fix.finished_at
    assert job_run(job_id=fix.job_id) is None  # a re-delivered task finds its job no longer queued
    fix.refresh_from_db()
    assert fix.finished_at == finished and fix.status == "done"


def test_fix_is_refused_without_a_production_segmenter_or_a_usable_backend(annotator_client, viewer_client,
                                                                           trained, settings):
    source = make_image(data=noise_png())
    response = annotator_client.post(f"/api/images/{source.pk}/fix", {}, format="json")
    assert response.status_code == 400 and "no production segmenter" in response.json()["detail"]
    model_promote(model_version=model_register(kind="segmenter", name="s", checkpoint_path=trained[0] / "best.pth"))
    response = annotator_client.post(f"/api/images/{source.pk}/fix", {"backend": "lama"}, format="json")
    assert response.status_code == 400 and "unknown inpainting backend 'lama'" in response.json()["detail"]
    settings.FLAWMAP_DIFFUSERS_INPAINT_MODEL = ""
    response = annotator_client.post(f"/api/images/{source.pk}/fix", {"backend": "diffusers-sd"}, format="json")
    assert response.status_code == 400 and "FLAWMAP_DIFFUSERS_INPAINT_MODEL" in response.json()["detail"]
    assert annotator_client.post(f"/api/images/{source.pk}/fix", {"mode": "tile"}, format="json").status_code == 400
    assert annotator_client.post("/api/images/424242/fix", {}, format="json").status_code == 404
    assert viewer_client.post(f"/api/images/{source.pk}/fix", {}, format="json").status_code == 403
    assert not FixJob.objects.exists() and not Job.objects.exists()  # refused before anything is stored


def test_a_fix_that_breaks_fails_its_job_with_the_error_and_is_not_retried(
        production_segmenter, monkeypatch, django_capture_on_commit_callbacks, annotator_client):
    source = make_image(data=noise_png())

    def broken(**kwargs):
        raise RuntimeError("inpainter exploded")

    monkeypatch.setattr("backend.quality.services.image_fix", broken)
    with django_capture_on_commit_callbacks(execute=True):
        fix = fix_job_request(image=source)
    fix.refresh_from_db()
    assert fix.status == "failed" and fix.reason == "RuntimeError: inpainter exploded" and fix.finished_at
    assert "inpainter exploded" in fix.job.traceback and not Job.objects.filter(retry_of=fix.job).exists()
    body = annotator_client.get(f"/api/quality/fixes/{fix.pk}/").json()
    assert (body["status"], body["error"], body["result"]) == ("failed", "RuntimeError: inpainter exploded", None)


def test_a_fix_whose_worker_dies_is_retried_and_then_done(production_segmenter, settings, annotator_client,
                                                          django_capture_on_commit_callbacks):
    settings.FLAWMAP_FIX_WORKING_SIZE = 64
    source = make_image(data=noise_png(seed=2))
    fix = fix_job_request(image=source)  # its enqueue never fires: the "worker" takes it and dies
    worker_killed(fix.job_id)
    assert annotator_client.get(f"/api/quality/fixes/{fix.pk}/").json()["status"] == "running"
    with django_capture_on_commit_callbacks(execute=True):  # the retry runs when the reaper commits
        assert jobs_reap_stale(timeout_seconds=60) == [fix.job_id]
    body = annotator_client.get(f"/api/quality/fixes/{fix.pk}/").json()
    retry = Job.objects.get(retry_of=fix.job_id)
    assert body["status"] == "done" and body["job"] == retry.pk and retry.attempt == 2
    assert body["result"] is not None and GeneratedImage.objects.filter(fixed_from=source).count() == 1


def test_a_fix_whose_last_attempt_is_lost_reads_failed_with_the_reason(production_segmenter, annotator_client):
    fix = fix_job_request(image=make_image(data=noise_png(seed=3)))
    worker_killed(fix.job_id, last_attempt=True)
    assert jobs_reap_stale(timeout_seconds=60) == [fix.job_id]
    body = annotator_client.get(f"/api/quality/fixes/{fix.pk}/").json()
    assert body["status"] == "failed" and "no heartbeat" in body["error"] and body["finished_at"]


def test_a_queued_fix_can_be_cancelled_through_the_jobs_api(production_segmenter, annotator_client, annotator_user):
    # stays queued: no commit in this test; the annotator who asked for it may cancel it
    fix = fix_job_request(image=make_image(data=noise_png(seed=4)), requested_by=annotator_user)
    listed = annotator_client.get("/api/jobs/?status=queued").json()["results"]
    assert [j["kind"] for j in listed] == ["fix_image"]
    assert annotator_client.post(f"/api/jobs/{fix.job_id}/cancel").status_code == 200
    body = annotator_client.get(f"/api/quality/fixes/{fix.pk}/").json()
    assert (body["status"], body["error"], body["result"]) == ("cancelled", "cancelled", None)
