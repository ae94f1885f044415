"""quality 0002: fixes made before fixes ran as Jobs each get a finished Job that says what became of them."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from backend.jobs.models import Job
from backend.mlmodels.services import model_register
from backend.quality.models import FixJob
from tests.backend.test_quality_fix import noise_png
from tests.factories import make_image

BEFORE, AFTER = [("quality", "0001_initial")], [("quality", "0002_fixjob_runs_as_a_job")]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)  # keeps the seeded rows for later tests
def test_existing_fixes_get_a_finished_job_and_an_unfinished_one_reads_failed(trained, settings, tmp_path):
    settings.FLAWMAP_MODEL_CACHE_DIR = str(tmp_path / "model-cache")
    image = make_image(data=noise_png(seed=9))
    model = model_register(kind="segmenter", name="s", checkpoint_path=trained[0] / "best.pth")
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    try:
        OldFixJob = executor.loader.project_state(BEFORE).apps.get_model("quality", "FixJob")
        common = dict(image_id=image.pk, model_version_id=model.pk, mode="zoom", backend="opencv-telea", dilate=4)
        done = OldFixJob.objects.create(status="done", par_before=0.2, par_after=0.0, **common)
        broken = OldFixJob.objects.create(status="failed", error="RuntimeError: boom", **common)
        stuck = OldFixJob.objects.create(status="running", **common)
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(AFTER)
        executor = MigrationExecutor(connection)  # and on to the newest: later tests need the later tables
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
    fixes = {fix.pk: fix for fix in FixJob.objects.select_related("job")}
    assert (fixes[done.pk].status, fixes[done.pk].par_before, fixes[done.pk].reason) == ("done", 0.2, "")
    assert (fixes[broken.pk].status, fixes[broken.pk].reason) == ("failed", "RuntimeError: boom")
    assert fixes[stuck.pk].status == "failed" and "request the fix again" in fixes[stuck.pk].reason
    assert all(f.job.kind == "fix_image" and f.job.params["fix_job_id"] == f.pk and f.finished_at
               for f in fixes.values())
    assert Job.objects.count() == 3
