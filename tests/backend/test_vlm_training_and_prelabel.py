"""The VLM classifier in the learning loop: train → score on the test split → promote if better → pre-label.
Real tiny models on the CPU; Celery tasks run in-process."""

import pytest

from backend.annotations.models import Annotation
from backend.annotations.services import RegionInput, annotation_create
from backend.core.roles import Role
from backend.core.users import user_get_or_create_with_role
from backend.jobs.models import Job
from backend.jobs.services import job_create
from backend.mlmodels.models import ModelVersion
from backend.taxonomy.selectors import artifact_class_list
from datasets.services import dataset_create
from tests.conftest import png_bytes
from tests.datasets.helpers import seeds_covering_splits
from tests.factories import make_image
from tests.vlm_support import tiny_vlm_base  # noqa: F401

W = H = 64


@pytest.fixture
def vlm_settings(settings, tmp_path, tiny_vlm_base):
    settings.FLAWMAP_MODEL_CACHE_DIR = str(tmp_path / "cache")
    settings.FLAWMAP_ML_DEVICE = "cpu"
    settings.VLM_BASE_MODEL = str(tiny_vlm_base)
    settings.VLM_TRAIN_MAX_STEPS, settings.VLM_TRAIN_LR, settings.VLM_MAX_NEW_TOKENS = 40, 5e-3, 48
    return settings


def _labelled_with_one_blur_box(n: int):
    """Every image labelled with the same box: a tiny model learns it in a few dozen steps."""
    user = user_get_or_create_with_role(username="labeller", role=Role.ANNOTATOR)
    blur = artifact_class_list().get(slug="localized-blur")
    for seed in seeds_covering_splits(n, size=(W, H), start=700):
        image = make_image(data=png_bytes(W, H, seed=seed))
        annotation_create(image=image, user=user, regions=[RegionInput(4, 6, 40, 30, blur, "blurry patch")])


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_vlm_job_trains_promotes_the_first_candidate_prelabels_and_keeps_an_equal_one_out(vlm_settings):
    _labelled_with_one_blur_box(20)
    unlabelled = make_image(data=png_bytes(W, H, seed=999))
    dataset = dataset_create(name="all")
    job, _ = job_create(kind="train_vlm", params={"dataset_id": dataset.pk})
    job.refresh_from_db()
    assert job.status == "succeeded", job.traceback
    comparison = job.result["comparison"]
    assert comparison["promoted"] and comparison["reason"] == "no production VLM yet"
    # SynArtifact's comparison, on the version's test split: the random base can't answer, the tuned one can
    assert comparison["candidate_macro_f1"] == 1.0 and comparison["base_macro_f1"] == 0.0
    model = ModelVersion.objects.get(kind="vlm", status="production")
    assert model.config_name == str(vlm_settings.VLM_BASE_MODEL) and '"base_fingerprint"' in model.config
    assert model.metrics["base_test"]["malformed"] == 1.0 and model.metrics["test"]["exact_match"] == 1.0

    # the promotion queued VLM pre-labels of what humans have not labelled
    prelabel = Job.objects.get(kind="prelabel_vlm")
    assert prelabel.status == "succeeded" and prelabel.result["predicted"] == 1
    annotation = Annotation.objects.get(image=unlabelled, model_version=model)
    region = annotation.regions.select_related("artifact_class").get()
    assert (region.x1, region.y1, region.x2, region.y2) == (4, 6, 40, 30)
    assert region.artifact_class.slug == "localized-blur" and region.caption == "blurry patch"
    assert not annotation.no_artifacts and annotation.masks.count() == 0

    again, _ = job_create(kind="train_vlm", params={"dataset_id": dataset.pk})
    again.refresh_from_db()
    assert again.status == "succeeded", again.traceback
    assert again.result["comparison"]["promoted"] is False  # 1.0 is not better than 1.0
    assert ModelVersion.objects.get(pk=again.result["model_version"]).status == "candidate"
    model.refresh_from_db()
    assert model.status == "production"


@pytest.mark.django_db
def test_campaign_retraining_also_queues_the_vlm_when_a_base_is_configured(vlm_settings):
    from annotator.services.provision import campaign_create
    from learning.services.retrain import campaign_retrain_maybe

    campaign = campaign_create(name="c")
    vlm_settings.VLM_BASE_MODEL = ""
    decision = campaign_retrain_maybe(campaign=campaign, force=True)
    assert decision.job.kind == "train_segmenter" and decision.vlm_job is None
    Job.objects.all().delete()
    vlm_settings.VLM_BASE_MODEL = "/some/base"
    decision = campaign_retrain_maybe(campaign=campaign, force=True)
    assert decision.vlm_job.kind == "train_vlm" and decision.vlm_job.subject == campaign
    assert decision.vlm_job.params["dataset_id"] == decision.job.params["dataset_id"]
    assert "max_iters" not in decision.vlm_job.params


@pytest.mark.django_db
def test_train_api_queues_a_vlm_training_on_a_dataset(admin_client, vlm_settings):
    dataset = dataset_create(name="d")
    response = admin_client.post("/api/models/train", {"dataset": dataset.pk, "kind": "vlm"}, format="json")
    assert response.status_code == 202
    job = Job.objects.get(pk=response.json()["job"])
    assert job.kind == "train_vlm" and job.params == {"dataset_id": dataset.pk}


@pytest.mark.django_db
def test_registering_something_that_is_not_a_packed_vlm_is_refused(tmp_path):
    from backend.core.exceptions import ApplicationError
    from backend.mlmodels.services import model_register

    bogus = tmp_path / "x.tar"
    bogus.write_bytes(b"nope")
    with pytest.raises(ApplicationError, match="not a packed VLM"):
        model_register(kind="vlm", name="v", checkpoint_path=bogus)


@pytest.mark.django_db
def test_the_vlm_jsonl_export_is_what_ml_vlm_reads(tmp_path):
    from datasets.export_run import export_to_path
    from datasets.services import dataset_version_build, dataset_version_start
    from ml.vlm.data import load_classes, load_split
    from ml.vlm.template import parse_answer

    _labelled_with_one_blur_box(10)
    version = dataset_version_build(version=dataset_version_start(dataset=dataset_create(name="e")))
    out = export_to_path(version=version, fmt="vlm-jsonl", out=tmp_path / "vlm")
    classes = load_classes(out)
    assert classes == [(c.code, c.slug, c.name, c.definition) for c in artifact_class_list()]
    examples = [ex for split in ("train", "val", "test") for ex in load_split(out, split)]
    assert len(examples) == 10 and all(ex.image.is_file() and (ex.width, ex.height) == (W, H) for ex in examples)
    for ex in examples:
        parsed = parse_answer(ex.answer, classes)
        assert parsed.regions == [{"bbox": [4, 6, 40, 30], "class": "localized-blur", "code": "9",
                                   "caption": "blurry patch"}]


@pytest.mark.django_db
def test_train_api_passes_a_segmenter_rehearsal_and_refuses_a_negative_one(admin_client):
    dataset = dataset_create(name="d")
    response = admin_client.post("/api/models/train", {"dataset": dataset.pk, "max_iters": 5, "replay_images": 30},
                                 format="json")
    assert response.status_code == 202
    job = Job.objects.get(pk=response.json()["job"])
    assert job.kind == "train_segmenter"
    assert job.params == {"dataset_id": dataset.pk, "max_iters": 5, "replay_images": 30}
    bad = admin_client.post("/api/models/train", {"dataset": dataset.pk, "replay_images": -1}, format="json")
    assert bad.status_code == 400 and "greater than or equal to 0" in bad.json()["replay_images"][0]
