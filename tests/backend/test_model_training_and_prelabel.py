"""Pre-labels and candidate training with real (tiny) models on the CPU; Celery tasks run in-process."""

import numpy as np
import pytest

from backend.annotations.masks import mask_array_to_canonical
from backend.annotations.models import Annotation
from backend.annotations.services import annotation_create
from backend.core.roles import Role
from backend.core.users import user_get_or_create_with_role
from backend.jobs.models import Job
from backend.mlmodels.models import ImagePrediction, ModelVersion
from backend.mlmodels.services import model_promote, model_register, prelabel_enqueue
from datasets.selectors import version_of_model
from datasets.services import dataset_create, dataset_version_build, dataset_version_start
from tests.conftest import png_bytes
from tests.datasets.helpers import seeds_covering_splits
from tests.factories import left_half_torchscript, make_image

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)
W, H = 40, 32


def _labelled_images(n: int, generator=None, first_seed: int = 500):
    user = user_get_or_create_with_role(username="labeller", role=Role.ANNOTATOR)
    mask = np.zeros((H, W), bool)
    mask[:, : W // 2] = True
    images = []
    for seed in seeds_covering_splits(n, size=(W, H), start=first_seed):
        image = make_image(data=png_bytes(W, H, seed=seed), generator=generator)
        annotation_create(image=image, user=user, mask=mask_array_to_canonical(mask))
        images.append(image)
    return images


def test_prelabel_stores_a_model_annotation_and_scores_once(trained, settings, tmp_path):
    settings.FLAWMAP_MODEL_CACHE_DIR = str(tmp_path / "cache")
    model = model_promote(model_version=model_register(kind="segmenter", name="u",
                                                       checkpoint_path=trained[0] / "best.pth"))
    images = [make_image(data=png_bytes(W, H, seed=i)) for i in range(3)]
    (job,) = prelabel_enqueue(image_ids=[im.pk for im in images])  # eager: runs at commit
    job.refresh_from_db()
    assert job.status == "succeeded" and job.result["predicted"] == 3
    for image in images:
        prediction = ImagePrediction.objects.get(image=image, model_version=model)
        annotation = prediction.annotation
        assert annotation.model_version == model and annotation.user is None
        mask = annotation.masks.get()
        assert (mask.width, mask.height) == (W, H) and prediction.par == pytest.approx(mask.par)
        assert 0.0 <= prediction.entropy <= 1.0 and 0.0 <= prediction.margin <= 1.0
        assert len(prediction.features) == 256  # pooled last stage of the tiny backbone
        image.refresh_from_db()
        assert image.par_source == "model" and image.par == pytest.approx(mask.par)
    (again,) = prelabel_enqueue(image_ids=[im.pk for im in images])
    again.refresh_from_db()
    assert again.result["predicted"] == 0 and again.result["skipped"] == 3
    assert Annotation.objects.filter(model_version=model).count() == 3


def test_ingest_queues_prelabels_only_when_a_production_model_exists(trained, settings, tmp_path):
    from backend.images.batch import images_ingest_batch
    from backend.images.models import SynthesisTask
    from backend.images.services import IngestItem
    from tests.factories import GeneratorFactory

    settings.FLAWMAP_MODEL_CACHE_DIR = str(tmp_path / "cache")
    generator, task = GeneratorFactory(), SynthesisTask.objects.get(slug="text_to_image")
    images_ingest_batch(items=[IngestItem(name="a.png", data=png_bytes(W, H, seed=1))], generator=generator, task=task)
    assert not Job.objects.exists()
    model_promote(model_version=model_register(kind="segmenter", name="u", checkpoint_path=trained[0] / "best.pth"))
    report = images_ingest_batch(items=[IngestItem(name="b.png", data=png_bytes(W, H, seed=2))],
                                 generator=generator, task=task)
    job = Job.objects.get(kind="prelabel")
    assert job.status == "succeeded" and job.params["image_ids"] == report.image_ids


def test_a_worse_candidate_is_registered_but_not_promoted(tmp_path, settings):
    settings.FLAWMAP_MODEL_CACHE_DIR = str(tmp_path / "cache")
    settings.FLAWMAP_ML_DEVICE = "cpu"
    scripted = left_half_torchscript(tmp_path / "end2end.pt")
    production = model_promote(model_version=model_register(kind="segmenter", name="pal4vst", checkpoint_path=scripted))
    _labelled_images(20)
    dataset = dataset_create(name="all")
    version = dataset_version_build(version=dataset_version_start(dataset=dataset))
    from backend.jobs.services import job_create

    job, _ = job_create(kind="train_segmenter", params={"dataset_version_id": version.pk, "max_iters": 2})
    job.refresh_from_db()
    assert job.status == "succeeded", job.traceback
    comparison = job.result["comparison"]
    assert comparison["production_artifact_IoU"] == 1.0 and comparison["candidate_artifact_IoU"] < 1.0
    assert comparison["promoted"] is False
    candidate = ModelVersion.objects.get(pk=job.result["model_version"])
    assert candidate.status == "candidate" and version_of_model(candidate) == version
    assert candidate.trained_on == {"dataset": version.dataset.name, "number": version.number, "id": version.pk}
    assert candidate.metrics["comparison"] == comparison
    production.refresh_from_db()
    assert production.status == "production"


def test_the_first_model_is_promoted_and_prelabels_the_unlabelled(tmp_path, settings):
    settings.FLAWMAP_MODEL_CACHE_DIR = str(tmp_path / "cache")
    settings.FLAWMAP_ML_DEVICE = "cpu"
    _labelled_images(20)
    unlabelled = make_image(data=png_bytes(W, H, seed=999))
    dataset = dataset_create(name="all")
    from backend.jobs.services import job_create

    job, _ = job_create(kind="train_segmenter", params={"dataset_id": dataset.pk, "max_iters": 1})
    job.refresh_from_db()
    assert job.status == "succeeded", job.traceback
    assert job.result["comparison"]["promoted"] and job.result["comparison"]["reason"] == "no production model yet"
    model = ModelVersion.objects.get(status="production")
    assert ImagePrediction.objects.filter(model_version=model, image=unlabelled).exists()


def test_a_fine_tune_rehearses_on_the_production_models_own_training_images(tmp_path, settings):
    from backend.jobs.services import job_create
    from tests.factories import GeneratorFactory

    settings.FLAWMAP_MODEL_CACHE_DIR = str(tmp_path / "cache")
    settings.FLAWMAP_ML_DEVICE = "cpu"
    old, new = GeneratorFactory(name="old"), GeneratorFactory(name="new")
    _labelled_images(20, generator=old)
    first, _ = job_create(kind="train_segmenter", params={"dataset_id": dataset_create(name="old", generators=[old]).pk,
                                                          "max_iters": 1})
    first.refresh_from_db()
    production = ModelVersion.objects.get(pk=first.result["model_version"], status="production")
    _labelled_images(10, generator=new, first_seed=700)
    fewshot = dataset_create(name="new", generators=[new])

    job, _ = job_create(kind="train_segmenter", params={"dataset_id": fewshot.pk, "max_iters": 1, "replay_images": 5})
    job.refresh_from_db()
    assert job.status == "succeeded", job.traceback
    candidate = ModelVersion.objects.get(pk=job.result["model_version"])
    assert candidate.metrics["replay"] == {"dataset_version": production.trained_on["id"], "images": 5}
    assert candidate.metrics["init"] == str(production)
    # the comparison stays on the new generator's test split: rehearsal images only join the train split
    trained_on = version_of_model(candidate)
    assert set(trained_on.items.values_list("image__generator__name", flat=True)) == {"new"}
    assert job.result["comparison"]["images"] == trained_on.items.filter(split="test").count()

    plain, _ = job_create(kind="train_segmenter", params={"dataset_id": fewshot.pk, "max_iters": 1})
    plain.refresh_from_db()
    assert ModelVersion.objects.get(pk=plain.result["model_version"]).metrics["replay"] is None
