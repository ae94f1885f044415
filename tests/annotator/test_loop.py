"""The Label Studio loop end to end: real Label Studio, real Celery worker, Flawmap on a live server."""

import time
import uuid

import numpy as np
import pytest
from django.db.models import Count

from annotator.client import ls_client
from annotator.converter import LSRegion, labels_to_results, rle_to_mask
from annotator.models import Campaign, CampaignTask, SyncedAnnotation, WebhookEvent
from annotator.services.provision import campaign_create, campaign_provision
from annotator.services.push import campaign_push_images, campaigns_push_predictions, task_held_out
from annotator.services.reconcile import campaign_reconcile
from backend.annotations.masks import mask_array_to_canonical
from backend.annotations.models import Annotation
from backend.annotations.services import RegionInput, annotation_create
from backend.core.blobs import blob_read
from backend.mlmodels.models import ModelVersion
from backend.taxonomy.selectors import artifact_class_list
from tests.annotator.flaky_proxy import FlakyProxy
from tests.conftest import png_bytes
from tests.factories import GeneratorFactory, make_image

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True)]

W, H = 48, 32


def wait_for(predicate, timeout=90, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def blob_mask(mask: np.ndarray) -> np.ndarray:
    import io

    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(mask))) != 0


@pytest.fixture
def loop(labelstudio_server, live_server, use_celery_worker, settings):
    settings.LABEL_STUDIO_URL = labelstudio_server.url
    settings.LABEL_STUDIO_API_KEY = labelstudio_server.api_key
    settings.FLAWMAP_PUBLIC_URL = live_server.url
    settings.LABEL_STUDIO_WEBHOOK_URL = f"{live_server.url}/api/labelstudio/webhook/"
    campaign = campaign_create(name=f"test-{uuid.uuid4().hex[:8]}", generator=GeneratorFactory())
    yield campaign
    campaign.refresh_from_db()
    if campaign.ls_project_id:
        ls_client().sdk.projects.delete(id=campaign.ls_project_id)


def images(campaign, n, seed=0):
    return [make_image(data=png_bytes(W, H, seed=seed + i), generator=campaign.generator) for i in range(n)]


def an_annotation_result(i: int):
    """What Label Studio's UI saves: a brush stroke, a box with a class and its per-region caption."""
    mask = np.zeros((H, W), dtype=bool)
    mask[2 + i % 10: 12 + i % 10, 5:25] = True
    regions = [LSRegion(5.0, 2.0 + i % 10, 25.0, 12.0 + i % 10, "Duplicated Components", f"extra finger {i}")]
    return mask, labels_to_results(mask=mask, regions=regions, width=W, height=H)


def test_provisioning_twice_gives_one_project_and_one_webhook(loop):
    campaign_provision(campaign=loop)
    campaign_provision(campaign=Campaign.objects.get(pk=loop.pk))
    loop.refresh_from_db()
    ls = ls_client().sdk
    titles = [p.title for p in ls.projects.list()]
    assert titles.count(f"Flawmap: {loop.name}") == 1
    hooks = ls.webhooks.list(project=str(loop.ls_project_id))
    assert len(hooks) == 1 and hooks[0].is_active and hooks[0].id == loop.ls_webhook_id
    project = next(p for p in ls.projects.list() if p.id == loop.ls_project_id)
    for cls in artifact_class_list():
        assert f'value="{cls.name}"' in project.label_config


def test_push_twenty_images_with_predictions(loop):
    campaign_provision(campaign=loop)
    model = ModelVersion.objects.create(kind="segmenter", name="tiny", version="1")
    cls = artifact_class_list().get(slug="localized-blur")
    masks = {}
    for i, image in enumerate(images(loop, 20)):
        mask = np.zeros((H, W), dtype=bool)
        mask[i % 16: i % 16 + 10, 3 + i: 20 + i] = True
        masks[image.pk] = mask
        annotation_create(image=image, model_version=model, mask=mask_array_to_canonical(mask), score=0.8,
                          regions=[RegionInput(3 + i, i % 16, 20 + i, i % 16 + 10, cls, "blurry")])
    ids = list(masks)
    report = campaign_push_images(campaign=loop, image_ids=ids)
    assert (report.pushed, report.with_prediction) == (20, 20)
    again = campaign_push_images(campaign=loop, image_ids=ids)
    assert (again.pushed, again.already_there) == (0, 20)

    tasks = list(ls_client().sdk.tasks.list(project=loop.ls_project_id, fields="all"))
    assert len(tasks) == 20
    for task in tasks:
        image_id = task.data["flawmap_image_id"]
        (prediction,) = task.predictions
        assert prediction.model_version == str(model) and prediction.score == pytest.approx(0.8)
        brush = next(r for r in prediction.result if r["type"] == "brushlabels")
        assert np.array_equal(rle_to_mask(brush["value"]["rle"], width=W, height=H), masks[image_id])
        box = next(r for r in prediction.result if r["type"] == "rectanglelabels")
        assert box["value"]["rectanglelabels"] == ["Localized Blur"]
        # the task's image link works without a session
        import requests
        assert requests.get(task.data["image"], timeout=10).content == png_bytes(W, H, seed=ids.index(image_id))


def test_annotation_made_in_label_studio_arrives_through_the_webhook(loop):
    campaign_provision(campaign=loop)
    (image,) = images(loop, 1, seed=100)
    campaign_push_images(campaign=loop, image_ids=[image.pk])
    task_id = CampaignTask.objects.get(image=image).ls_task_id
    mask, result = an_annotation_result(3)
    created = ls_client().sdk.annotations.create(id=task_id, result=result, lead_time=41.5)

    wait_for(lambda: SyncedAnnotation.objects.filter(ls_annotation_id=created.id).exists(), what="the webhook")
    annotation = SyncedAnnotation.objects.get(ls_annotation_id=created.id).annotation
    assert annotation.lead_time == pytest.approx(41.5)
    link = annotation.user.labelstudio_accounts.get()  # linked by Label Studio user id, named ls-<id>-<local part>
    assert link.email == "admin@flawmap.local" and annotation.user.username == f"ls-{link.ls_user_id}-admin"
    stored = blob_mask(blob_read(annotation.masks.get().blob))
    assert np.array_equal(stored, mask)
    region = annotation.regions.select_related("artifact_class").get()
    assert region.artifact_class.slug == "duplicated-components" and region.caption == "extra finger 3"
    assert (region.x1, region.y1, region.x2, region.y2) == pytest.approx((5, 5, 25, 15), abs=1)
    assert WebhookEvent.objects.filter(status="processed").count() == 1


def test_lost_webhooks_and_a_restart_are_recovered_by_reconcile(loop, live_server, labelstudio_script, settings):
    with FlakyProxy(f"{live_server.url}/api/labelstudio/webhook/", drop_rate=0.3, seed=7) as proxy:
        settings.LABEL_STUDIO_WEBHOOK_URL = proxy.url
        campaign_provision(campaign=loop)
        batch = images(loop, 50, seed=200)
        campaign_push_images(campaign=loop, image_ids=[im.pk for im in batch])
        task_ids = list(CampaignTask.objects.filter(campaign=loop).order_by("id").values_list("ls_task_id", flat=True))
        ls = ls_client().sdk
        for i, task_id in enumerate(task_ids):
            if i == 25:  # Label Studio goes down and comes back mid-run
                ls_module = labelstudio_script
                ls_module.stop(ls_module.DEFAULT_DATA_DIR)
                ls_module.up(ls_module.DEFAULT_PORT, ls_module.DEFAULT_DATA_DIR, ls_module.DEFAULT_ENV_FILE)
            ls.annotations.create(id=task_id, result=an_annotation_result(i)[1], lead_time=float(i))
        assert proxy.dropped > 0
        # let the deliveries that did get through be processed before counting
        wait_for(lambda: not WebhookEvent.objects.filter(status="pending").exists(), what="webhook jobs")
        before = SyncedAnnotation.objects.filter(campaign=loop).count()
        assert before < 50, "some webhooks should have been lost"

        report = campaign_reconcile(campaign=Campaign.objects.get(pk=loop.pk))
    assert report.failed == 0 and report.applied == 50 - before
    assert SyncedAnnotation.objects.filter(campaign=loop).count() == 50
    per_image = Annotation.objects.filter(image__campaign_tasks__campaign=loop).values("image").annotate(n=Count("id"))
    assert len(per_image) == 50 and all(row["n"] == 1 for row in per_image)
    # a second reconcile finds nothing new
    again = campaign_reconcile(campaign=Campaign.objects.get(pk=loop.pk))
    assert again.applied == 0 and Annotation.objects.count() == 50
    hook = next(h for h in ls_client().sdk.webhooks.list(project=str(loop.ls_project_id)))
    assert hook.is_active


def test_reconcile_reenables_the_webhook_and_follows_updates_and_deletes(loop, settings):
    settings.LABEL_STUDIO_WEBHOOK_URL = "http://127.0.0.1:9/nobody-listens/"  # every delivery is lost
    campaign_provision(campaign=loop)
    batch = images(loop, 2, seed=300)
    campaign_push_images(campaign=loop, image_ids=[im.pk for im in batch])
    ls = ls_client().sdk
    first_task, second_task = (CampaignTask.objects.filter(campaign=loop).order_by("id")
                               .values_list("ls_task_id", flat=True))
    kept = ls.annotations.create(id=first_task, result=an_annotation_result(1)[1], lead_time=5.0)
    dropped = ls.annotations.create(id=second_task, result=an_annotation_result(2)[1], lead_time=6.0)
    ls.webhooks.update(id=loop.ls_webhook_id, is_active=False)  # as Label Studio does after repeated failures

    report = campaign_reconcile(campaign=Campaign.objects.get(pk=loop.pk))
    assert report.webhook_reenabled and report.applied == 2
    assert next(h for h in ls.webhooks.list(project=str(loop.ls_project_id))).is_active

    time.sleep(1.1)  # updated_at must move past the first version
    ls.annotations.update(id=kept.id, result=an_annotation_result(7)[1], lead_time=9.0)
    ls.annotations.delete(id=dropped.id)
    report = campaign_reconcile(campaign=Campaign.objects.get(pk=loop.pk))
    assert (report.applied, report.deleted) == (1, 1)
    current = SyncedAnnotation.objects.get(ls_annotation_id=kept.id).annotation
    assert current.lead_time == 9.0 and current.previous is not None and not current.previous.is_current
    assert current.regions.get().caption == "extra finger 7"
    gone = SyncedAnnotation.objects.get(ls_annotation_id=dropped.id)
    assert gone.deleted_at is not None and gone.annotation.deleted_at is not None


def _predict(images_, model, cls):
    for i, image in enumerate(images_):
        mask = np.zeros((H, W), dtype=bool)
        mask[2:12, 3 + i: 20 + i] = True
        annotation_create(image=image, model_version=model, mask=mask_array_to_canonical(mask), score=0.7,
                          regions=[RegionInput(3 + i, 2, 20 + i, 12, cls, "blurry")])


def test_the_prelabel_holdout_withholds_predictions_by_hash_and_the_passes_say_so(loop, settings):
    settings.LABEL_STUDIO_WEBHOOK_URL = "http://127.0.0.1:9/nobody-listens/"  # passes come in by reconcile here
    loop.prelabel_holdout = 0.5
    loop.save(update_fields=["prelabel_holdout"])
    campaign_provision(campaign=loop)
    cls = artifact_class_list().get(slug="localized-blur")
    predicted, (late,) = images(loop, 12, seed=500), images(loop, 1, seed=600)  # `late` has no prediction yet
    _predict(predicted, ModelVersion.objects.create(kind="segmenter", name="tiny", version="1"), cls)
    held = {im.pk for im in predicted + [late] if task_held_out(loop, im)}  # the rule: a hash of sha and campaign
    assert 0 < len(held & {im.pk for im in predicted}) < 12
    report = campaign_push_images(campaign=loop, image_ids=[im.pk for im in predicted + [late]])
    assert report.withheld == len(held - {late.pk}) and report.with_prediction == 12 - report.withheld

    def upstream():
        return {t.data["flawmap_image_id"]: t for t in ls_client().sdk.tasks.list(project=loop.ls_project_id,
                                                                                   fields="all")}
    tasks = upstream()
    for image in predicted:
        assert bool(tasks[image.pk].predictions) == (image.pk not in held), image.pk
    assert not tasks[late.pk].predictions
    links = {t.image_id: t for t in CampaignTask.objects.filter(campaign=loop)}
    assert {i: t.prelabel for i, t in links.items()} == {
        **{im.pk: "withheld" if im.pk in held else "shown" for im in predicted}, late.pk: "none"}
    assert {i for i, t in links.items() if t.prelabel_held_out} == held

    # A newer model: its predictions reach the tasks that are not held out, never a held-out one.
    _predict(predicted + [late], ModelVersion.objects.create(kind="segmenter", name="tiny", version="2"), cls)
    pushed = campaigns_push_predictions(image_ids=[im.pk for im in predicted + [late]])
    assert pushed == 13 - len(held)
    tasks = upstream()
    for image in predicted + [late]:
        assert bool(tasks[image.pk].predictions) == (image.pk not in held), image.pk
    assert CampaignTask.objects.get(image=late).prelabel == ("withheld" if late.pk in held else "shown")

    # Labellers' passes record what their task showed.
    one_held = next(im for im in predicted if im.pk in held)
    one_shown = next(im for im in predicted if im.pk not in held)
    for image in (one_held, one_shown):
        ls_client().sdk.annotations.create(id=links[image.pk].ls_task_id, result=an_annotation_result(1)[1],
                                           lead_time=30.0)
    assert campaign_reconcile(campaign=Campaign.objects.get(pk=loop.pk)).applied == 2
    passes = {a.image_id: a for a in Annotation.objects.filter(user__isnull=False)}
    assert passes[one_held.pk].prelabel == "withheld" and passes[one_held.pk].prediction_shown is False
    assert passes[one_shown.pk].prelabel == "shown" and passes[one_shown.pk].prediction_shown is True
