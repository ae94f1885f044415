"""Label Studio shows the VLM classifier's boxes, classes and captions next to the segmenter's brush mask,
as one prediction on pushed tasks (read back through Label Studio's API)."""

import uuid

import numpy as np
import pytest

from annotator.client import ls_client
from annotator.converter import rle_to_mask
from annotator.models import CampaignTask
from annotator.services.provision import campaign_create, campaign_provision
from annotator.services.push import campaign_push_images
from backend.annotations.masks import mask_array_to_canonical
from backend.annotations.services import annotation_create
from backend.jobs.models import Job
from backend.mlmodels.models import ModelVersion
from backend.mlmodels.services import model_promote, model_register, vlm_prelabel_enqueue
from tests.conftest import png_bytes
from tests.factories import GeneratorFactory, make_image
from tests.vlm_support import constant_export, tiny_vlm_base, tiny_vlm_tuned, vlm_demo_export  # noqa: F401

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True)]
W = H = 64


@pytest.fixture
def campaign(labelstudio_server, settings, tmp_path):
    settings.LABEL_STUDIO_URL = labelstudio_server.url
    settings.LABEL_STUDIO_API_KEY = labelstudio_server.api_key
    settings.FLAWMAP_MODEL_CACHE_DIR = str(tmp_path / "cache")
    settings.FLAWMAP_ML_DEVICE = "cpu"
    settings.VLM_MAX_NEW_TOKENS = 48
    campaign = campaign_create(name=f"vlm-{uuid.uuid4().hex[:8]}", generator=GeneratorFactory())
    campaign_provision(campaign=campaign)
    campaign.refresh_from_db()
    yield campaign
    ls_client().sdk.projects.delete(id=campaign.ls_project_id)


def _segmenter_pass(image, segmenter):
    mask = np.zeros((H, W), dtype=bool)
    mask[10:20, 5:30] = True
    annotation_create(image=image, model_version=segmenter, mask=mask_array_to_canonical(mask), score=0.7)
    return mask


def _check(prediction, *, mask, segmenter, vlm):
    assert prediction.model_version == f"{segmenter} + {vlm}" and prediction.score == pytest.approx(0.7)
    by_type = {}
    for result in prediction.result:
        by_type.setdefault(result["type"], []).append(result)
    (brush,) = by_type["brushlabels"]
    assert np.array_equal(rle_to_mask(brush["value"]["rle"], width=W, height=H), mask)
    (box,) = by_type["rectanglelabels"]
    assert box["value"]["rectanglelabels"] == ["Localized Blur"]
    # the box [4, 6, 40, 30] of a 64x64 image, in percent
    assert [box["value"][k] for k in ("x", "y", "width", "height")] == pytest.approx([6.25, 9.375, 56.25, 37.5])
    (caption,) = by_type["textarea"]
    assert caption["id"] == box["id"] and caption["value"]["text"] == ["blurry patch"]


def test_vlm_prelabels_reach_label_studio_as_boxes_classes_and_captions(campaign, trained, tiny_vlm_tuned, tmp_path):
    from ml.vlm.package import pack

    segmenter = model_register(kind="segmenter", name="unified", checkpoint_path=trained[0] / "best.pth")
    early, late = (make_image(data=png_bytes(W, H, seed=40 + i), generator=campaign.generator) for i in range(2))
    masks = {image.pk: _segmenter_pass(image, segmenter) for image in (early, late)}
    campaign_push_images(campaign=campaign, image_ids=[early.pk])  # before the VLM: mask only

    vlm = model_promote(model_version=model_register(
        kind="vlm", name="vlm", checkpoint_path=pack(tiny_vlm_tuned[0], tmp_path / "vlm.tar")))
    (job,) = vlm_prelabel_enqueue(image_ids=[early.pk, late.pk])  # runs at commit (eager Celery)
    job.refresh_from_db()
    assert job.status == "succeeded", job.traceback
    assert job.result["predicted"] == 2 and job.result["pushed_to_labelstudio"] == 1  # the task already there
    campaign_push_images(campaign=campaign, image_ids=[late.pk])  # after: pushed with both

    ls = ls_client().sdk
    for image in (early, late):
        task = ls.tasks.get(id=CampaignTask.objects.get(campaign=campaign, image=image).ls_task_id)
        newest = max(task.predictions, key=lambda p: p["id"] if isinstance(p, dict) else p.id)
        newest = ls.predictions.get(id=newest["id"] if isinstance(newest, dict) else newest.id)
        _check(newest, mask=masks[image.pk], segmenter=segmenter, vlm=vlm)
    assert Job.objects.filter(kind="prelabel_vlm").count() == 1
    assert ModelVersion.objects.get(kind="vlm").status == "production"
