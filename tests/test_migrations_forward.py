"""A database at the schema before the one-way-house move (learning rounds in the annotator app, jobs tied to a
campaign and model versions to a dataset version by foreign keys pointing up, a campaign's retraining policy on
the campaign) migrates forward with every row and value kept."""

import pytest
from django.apps import apps as current_apps
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from backend.annotations.models import Annotation
from backend.jobs.models import Job
from backend.mlmodels.models import ModelVersion
from backend.mlmodels.services import model_register
from datasets.services import dataset_create, dataset_version_build, dataset_version_start
from learning.models import ActiveLearningRound, RetrainPolicy
from tests.datasets.helpers import labelled_image
from tests.factories import GeneratorFactory

# The last migrations before the move, per app it touched.
BEFORE = [("annotator", "0006_campaign_retrain_replay_images"), ("jobs", "0001_initial"), ("learning", None),
          ("mlmodels", "0005_modelpromotion")]


def _row_counts(apps) -> dict[str, int]:
    """Rows per model, keyed by app-independent model name (a moved model keeps its key)."""
    return {model._meta.object_name: model.objects.count() for model in apps.get_models()
            if model._meta.app_label not in {"contenttypes", "auth", "sessions", "admin", "authtoken"}}


@pytest.mark.django_db(transaction=True, serialized_rollback=True)  # keeps the seeded rows for later tests
def test_a_database_from_before_the_move_migrates_forward_with_every_row_kept(annotator_user, trained, settings,
                                                                               tmp_path):
    settings.FLAWMAP_MODEL_CACHE_DIR = str(tmp_path / "model-cache")
    generator = GeneratorFactory(name="old-house", version="")
    images = [labelled_image(annotator_user, seed=i, generator=generator) for i in range(6)]
    model = model_register(kind="segmenter", name="unified", checkpoint_path=trained[0] / "best.pth")
    dataset = dataset_create(name="old-house")
    version = dataset_version_build(version=dataset_version_start(dataset=dataset))

    MigrationExecutor(connection).migrate(BEFORE)
    try:
        applied = MigrationExecutor(connection).loader.applied_migrations
        assert not {("learning", "0001_initial"), ("jobs", "0002_job_subject"), ("mlmodels", "0006_trained_on")} & set(
            applied)
        old = MigrationExecutor(connection).loader.project_state(list(applied)).apps
        Campaign, OldRound, OldJob = (old.get_model("annotator", "Campaign"),
                                      old.get_model("annotator", "ActiveLearningRound"), old.get_model("jobs", "Job"))
        trained = old.get_model("mlmodels", "ModelVersion").objects.create(
            kind="segmenter", name="unified", version="v9", dataset_version_id=version.pk)
        campaign = Campaign.objects.create(name="launch", generator_id=generator.pk, ls_project_id=7,
                                           training_dataset_id=dataset.pk, retrain_min_new_labels=10,
                                           retrain_max_iters=600, retrain_replay_images=90)
        other = Campaign.objects.create(name="other")
        for number in (1, 2):
            OldRound.objects.create(campaign=campaign, number=number, strategy="uncertainty", k=4, candidates=10,
                                    picked=4, pushed=4, model_version_id=model.pk, model_metrics={"IoU": 0.5})
        trained_job = OldJob.objects.create(kind="train_segmenter", status="succeeded", campaign=campaign,
                                            params={"dataset_version_id": version.pk})
        push_job = OldJob.objects.create(kind="labelstudio_push", status="failed", campaign=other)
        loose_job = OldJob.objects.create(kind="prelabel", status="queued")
        before = _row_counts(old)
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())

    after = _row_counts(current_apps)
    assert after.pop("RetrainPolicy") == 1  # the one campaign that had a policy
    # Models added since the move (benchmarks, promotion decisions, ...) start empty.
    added = set(after) - set(before)
    assert {name: after.pop(name) for name in added} == dict.fromkeys(added, 0)
    assert after == before and before["ActiveLearningRound"] == 2 and before["Job"] == 3
    assert before["GeneratedImage"] == len(images) and before["Annotation"] == Annotation.objects.count() > 0
    assert before["ModelVersion"] == 2 and before["DatasetVersion"] == 1 and before["Campaign"] == 2
    assert ModelVersion.objects.get(pk=trained.pk).trained_on == {"dataset": "old-house", "number": version.number,
                                                                  "id": version.pk}
    assert ModelVersion.objects.get(pk=model.pk).trained_on == {}
    policy = RetrainPolicy.objects.get(campaign_id=campaign.pk)
    assert (policy.training_dataset_id, policy.min_new_labels, policy.max_iters, policy.replay_images) == (
        dataset.pk, 10, 600, 90)
    rounds = ActiveLearningRound.objects.filter(campaign_id=campaign.pk).order_by("number")
    assert [(r.number, r.model_version_id, r.model_metrics) for r in rounds] == [
        (1, model.pk, {"IoU": 0.5}), (2, model.pk, {"IoU": 0.5})]
    assert ActiveLearningRound._meta.db_table == "learning_activelearninground"
    jobs = {job.pk: job for job in Job.objects.all()}
    assert (jobs[trained_job.pk].subject_label, jobs[trained_job.pk].subject_id) == ("annotator.campaign", campaign.pk)
    assert jobs[trained_job.pk].params == {"dataset_version_id": version.pk}
    assert (jobs[push_job.pk].subject_label, jobs[push_job.pk].subject_id) == ("annotator.campaign", other.pk)
    assert jobs[loose_job.pk].subject_id is None
    assert [j.pk for j in Job.objects.for_subject(current_apps.get_model("annotator", "Campaign")
                                                  .objects.get(pk=campaign.pk))] == [trained_job.pk]
