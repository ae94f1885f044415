"""`manage.py onboard_generator` against the real Label Studio, with simulated labellers; jobs run in-process."""

import io

import pytest
from django.core.management import call_command

from annotator.client import ls_client
from annotator.models import Campaign, CampaignTask
from backend.jobs.models import Job
from backend.mlmodels.models import ImagePrediction, ModelVersion, PromotionDecision
from backend.mlmodels.services import model_promote, model_register
from datasets.selectors import version_of_model
from ml.synthetic import generate_dataset

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_onboarding_picks_diverse_images_and_fine_tunes_after_the_labels(labelstudio_server, trained, settings,
                                                                          tmp_path):
    settings.LABEL_STUDIO_URL = labelstudio_server.url
    settings.LABEL_STUDIO_API_KEY = labelstudio_server.api_key
    settings.FLAWMAP_FEWSHOT_MAX_ITERS = 2
    settings.FLAWMAP_FEWSHOT_REPLAY_IMAGES = 4
    settings.FLAWMAP_ML_DEVICE = "cpu"
    settings.FLAWMAP_MODEL_CACHE_DIR = str(tmp_path / "cache")
    unified = model_promote(model_version=model_register(kind="segmenter", name="unified",
                                                         checkpoint_path=trained[0] / "best.pth"))
    data = tmp_path / "newgen"
    generate_dataset(data, n=20, size=64, seed=21)
    out = io.StringIO()
    try:
        call_command("onboard_generator", "newgen", "--images", str(data / "images" / "train"), "--labels", "10",
                     "--simulate-labels", str(data / "labels" / "train"), stdout=out)
        campaign = Campaign.objects.get(name="onboard: newgen")
        text = out.getvalue()
        assert "picked by diversity" in text and "simulated labellers submitted 10 annotations" in text
        assert CampaignTask.objects.filter(campaign=campaign).count() == 10
        # every candidate was scored by the production model before the pick
        assert ImagePrediction.objects.filter(model_version=unified, image__generator__name="newgen").count() == 16
        (job,) = Job.objects.for_subject(campaign).filter(kind="train_segmenter")
        assert job.status == "succeeded" and job.params["max_iters"] == 2 and job.params["new_labels"] == 10
        assert job.params["replay_images"] == 4  # rehearsal asked for; this unified model has no version to draw on
        comparison = job.result["comparison"]
        assert comparison["production_model"] == unified.pk and comparison["images"] >= 1
        assert f"artifact IoU before {comparison['production_artifact_IoU']}" in text
        # A specialist of this generator, judged by the promotion gate: 10 labels make no benchmark of 30, so it
        # stays a candidate, the unified model stays in production, and the command says why.
        specialist = ModelVersion.objects.get(pk=job.result["model_version"])
        assert specialist.scope == "generator:newgen" and specialist.status == "candidate"
        assert comparison["promoted"] is False and comparison["outcome"] == "undecided"
        assert "too small to decide" in comparison["reason"] and "too small to decide" in text
        unified.refresh_from_db()
        assert unified.status == "production" and unified.scope == "unified"
        decision = PromotionDecision.objects.get(candidate=specialist)
        assert decision.outcome == "undecided" and decision.incumbent == unified
        assert "FLAWMAP_BENCHMARK_MIN_IMAGES" in decision.reason
        # the few-shot set is this generator's labels only
        version = version_of_model(specialist)
        assert set(version.items.values_list("image__generator__name", flat=True)) == {"newgen"}
        assert version.items.count() == 10
    finally:
        campaign = Campaign.objects.filter(name="onboard: newgen").first()
        if campaign and campaign.ls_project_id:
            ls_client().sdk.projects.delete(id=campaign.ls_project_id)
