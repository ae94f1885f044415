"""Specialists and routing: each image is served by the production model of its most specific scope (its
generator's, else its task's, else the unified one); promotions replace only within a scope; pre-label jobs go
to the model that serves each image; GET /api/models/routing names the model per scope."""

import pytest

from backend.core.blobs import atomic_with_blobs, blob_store
from backend.core.exceptions import ApplicationError
from backend.jobs.models import Job
from backend.mlmodels.models import ModelVersion
from backend.mlmodels.selectors import images_by_model, production_model_for, routing_table
from backend.mlmodels.services import model_promote, prelabel_enqueue
from tests.conftest import png_bytes
from tests.factories import GeneratorFactory, make_image

pytestmark = pytest.mark.django_db


def _model(name: str, *, scope: str = "unified", kind: str = "segmenter", version: str = "v1") -> ModelVersion:
    with atomic_with_blobs():
        blob = blob_store(data=f"{kind} {name} {version}".encode(), content_type="application/octet-stream")
    return ModelVersion.objects.create(kind=kind, name=name, version=version, checkpoint=blob, scope=scope)


@pytest.fixture
def images():
    alpha, beta = GeneratorFactory(name="alpha"), GeneratorFactory(name="beta")
    return {
        "alpha_t2i": make_image(data=png_bytes(seed=1), generator=alpha),
        "beta_t2i": make_image(data=png_bytes(seed=2), generator=beta),
        "beta_photo": make_image(data=png_bytes(seed=3), generator=beta, task_slug="real_photo"),
    }


def test_the_most_specific_production_scope_serves_each_image(images):
    assert production_model_for(kind="segmenter", image=images["alpha_t2i"]) is None  # nothing yet
    unified = model_promote(model_version=_model("unified"))
    photo = model_promote(model_version=_model("segmenter-task-real_photo", scope="task:real_photo"))
    alpha = model_promote(model_version=_model("segmenter-generator-alpha", scope="generator:alpha"))
    _model("segmenter-generator-beta", scope="generator:beta")  # a candidate: routes nothing
    # a production specialist of another kind does not serve segmenter requests
    model_promote(model_version=_model("vlm-generator-beta", scope="generator:beta", kind="vlm"))

    assert production_model_for(kind="segmenter", image=images["alpha_t2i"]) == alpha
    assert production_model_for(kind="segmenter", image=images["beta_t2i"]) == unified
    assert production_model_for(kind="segmenter", image=images["beta_photo"]) == photo
    groups = images_by_model(kind="segmenter", image_ids=[im.pk for im in images.values()])
    assert groups == {alpha: [images["alpha_t2i"].pk], unified: [images["beta_t2i"].pk],
                      photo: [images["beta_photo"].pk]}
    # a generator's specialist comes before its task's: promote one for beta and the photo goes to it
    beta = model_promote(model_version=_model("segmenter-generator-beta", scope="generator:beta", version="v2"))
    assert production_model_for(kind="segmenter", image=images["beta_photo"]) == beta


def test_a_promotion_replaces_only_the_production_model_of_its_scope():
    unified = model_promote(model_version=_model("unified"))
    first = model_promote(model_version=_model("segmenter-generator-alpha", scope="generator:alpha"))
    second = model_promote(model_version=_model("segmenter-generator-alpha", scope="generator:alpha", version="v2"))
    unified.refresh_from_db(), first.refresh_from_db()
    assert unified.status == "production" and second.status == "production" and first.status == "retired"
    assert second.promotions.get().replaced == first and second.promotions.get().evidence == {"manual": True}


def test_a_bad_scope_is_refused_at_registration(tmp_path):
    from backend.mlmodels.services import model_register

    for bad in ("generator:", "everything", "model:x", "task: "):
        with pytest.raises(ApplicationError, match="model scope must be"):
            model_register(kind="segmenter", name="x", checkpoint_path=tmp_path / "missing.pth", scope=bad)


def test_prelabel_jobs_go_to_the_model_that_serves_each_image(images):
    unified = model_promote(model_version=_model("unified"))
    alpha = model_promote(model_version=_model("segmenter-generator-alpha", scope="generator:alpha"))
    Job.objects.all().delete()
    jobs = prelabel_enqueue(image_ids=[im.pk for im in images.values()])
    by_model = {job.params["model_version_id"]: sorted(job.params["image_ids"]) for job in jobs}
    assert by_model == {unified.pk: sorted([images["beta_t2i"].pk, images["beta_photo"].pk]),
                        alpha.pk: [images["alpha_t2i"].pk]}
    # after a promotion (image_ids None): one "everything it serves" job per production model
    everything = prelabel_enqueue(image_ids=None)
    assert sorted(j.params["model_version_id"] for j in everything) == sorted([unified.pk, alpha.pk])
    assert all(j.params["image_ids"] is None for j in everything)


def test_the_routing_api_names_the_model_per_scope(images, viewer_client):
    unified = model_promote(model_version=_model("unified"))
    model_promote(model_version=_model("segmenter-generator-alpha", scope="generator:alpha"))
    model_promote(model_version=_model("vlm", kind="vlm"))
    response = viewer_client.get("/api/models/routing")
    assert response.status_code == 200
    rows = [(r["kind"], r["scope"], f"{r['model']['name']}@{r['model']['version']}", r["images"])
            for r in response.json()]
    assert rows == [("segmenter", "unified", "unified@v1", 2),
                    ("segmenter", "generator:alpha", "segmenter-generator-alpha@v1", 1),
                    ("vlm", "unified", "vlm@v1", 3)]
    only = viewer_client.get("/api/models/routing", {"kind": "segmenter"}).json()
    assert [r["model"]["id"] for r in only][0] == unified.pk and len(only) == 2
    assert routing_table(kind="vlm")[0]["images"] == 3
    bad = viewer_client.get("/api/models/routing", {"kind": "everything"})
    assert bad.status_code == 400 and "kind must be one of" in bad.json()["detail"]


def test_the_reward_scores_a_batch_with_the_models_of_its_generator_and_task():
    from backend.mlmodels.reward import ModelsUnavailable, serving_models

    with pytest.raises(ModelsUnavailable):
        serving_models(generator="alpha")
    unified, vlm = model_promote(model_version=_model("unified")), model_promote(model_version=_model("v", kind="vlm"))
    alpha = model_promote(model_version=_model("segmenter-generator-alpha", scope="generator:alpha"))
    photo_vlm = model_promote(model_version=_model("vlm-task-real_photo", scope="task:real_photo", kind="vlm"))
    assert serving_models() == (unified, vlm)
    assert serving_models(generator="alpha", task="text_to_image") == (alpha, vlm)
    assert serving_models(generator="alpha", task="real_photo") == (alpha, photo_vlm)
    assert serving_models(generator="nobody") == (unified, vlm)
