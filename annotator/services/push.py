"""Send images to a campaign's Label Studio project as tasks, with the model's guess as a prediction (except for
the campaign's randomised holdout, annotator.holdout)."""

import io
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from PIL import Image

from annotator.client import LabelStudioClient, LsTask, ls_client
from annotator.converter import LSRegion, labels_to_results
from annotator.holdout import campaign_holdout_salt, prelabel_held_out
from annotator.models import Campaign, CampaignTask
from annotator.services.links import IMAGE_ID_FIELD, ls_task_image_link_refresh
from annotator.services.review import STARTING_POINTS, human_prediction_for
from annotator.signing import image_signed_url
from backend.annotations.models import Annotation
from backend.core.blobs import blob_read
from backend.core.cli import ProgressCallback
from backend.core.exceptions import ApplicationError
from backend.images.models import GeneratedImage
from backend.jobs.services import job_create


@dataclass
class PushReport:
    pushed: int = 0
    already_there: int = 0
    with_prediction: int = 0
    withheld: int = 0  # a prediction existed but the task is in the campaign's holdout


def _latest_model_annotations(image: GeneratedImage) -> list[Annotation]:
    """The newest current annotation of each kind of model (segmenter, VLM), segmenter first."""
    newest: dict[str, Annotation] = {}
    for a in image.annotations.all():
        if a.model_version_id and a.is_current and a.deleted_at is None:
            kind = a.model_version.kind
            if kind not in newest or (a.created_at, a.pk) > (newest[kind].created_at, newest[kind].pk):
                newest[kind] = a
    return [newest[k] for k in sorted(newest, key=lambda k: k != "segmenter")]


def prediction_for(image: GeneratedImage) -> tuple[dict | None, Annotation | None]:
    """One Label Studio prediction from the newest model pass of each kind: the segmenter's brush mask next to
    the VLM classifier's boxes, classes and per-region captions. The second value is the newest of those
    passes (a task whose recorded prediction is older gets the new one)."""
    annotations = _latest_model_annotations(image)
    if not annotations:
        return None, None
    mask, regions = None, []
    for annotation in annotations:
        masks = list(annotation.masks.all())
        if masks and mask is None:
            mask = np.asarray(Image.open(io.BytesIO(blob_read(masks[0].blob)))) != 0
        regions += [LSRegion(r.x1, r.y1, r.x2, r.y2, r.artifact_class.name, r.caption)
                    for r in annotation.regions.all()]
    result = labels_to_results(mask=mask, regions=regions, width=image.width, height=image.height)
    prediction = {"model_version": " + ".join(str(a.model_version) for a in annotations), "result": result}
    score = next((a.score for a in annotations if a.score is not None), None)
    if score is not None:
        prediction["score"] = score
    return prediction, max(annotations, key=lambda a: (a.created_at, a.pk))


def task_held_out(campaign: Campaign, image: GeneratedImage) -> bool:
    return prelabel_held_out(image_key=image.blob_id, salt=campaign_holdout_salt(campaign.pk),
                             share=campaign.prelabel_holdout)


def _tasks_already_in_project(ls: LabelStudioClient, project_id: int) -> dict[int, LsTask]:
    """flawmap image id → task for every task of the project (catches tasks we lost track of)."""
    found = {}
    for task in ls.tasks(project_id=project_id):
        image_id = task.data.get(IMAGE_ID_FIELD)
        if isinstance(image_id, int):
            found.setdefault(image_id, task)
    return found


def campaign_push_images(*, campaign: Campaign, image_ids: list[int],
                         on_progress: ProgressCallback | None = None, starting: str = "model") -> PushReport:
    """`on_progress(pushed, to_push)` follows the import batches. `starting="human"` sends images back for review:
    each task starts from the newest human pass instead of the model's pre-label (outside the holdout trial)."""
    if starting not in STARTING_POINTS:
        raise ApplicationError(f"a push starts from one of {', '.join(STARTING_POINTS)}, not {starting!r}")
    if not campaign.ls_project_id:
        raise ApplicationError(f"campaign {campaign.name!r} has no Label Studio project yet; provision it first")
    ls = ls_client()
    report = PushReport()
    known = set(CampaignTask.objects.filter(campaign=campaign, image_id__in=image_ids)
                .values_list("image_id", flat=True))
    wanted = [i for i in dict.fromkeys(image_ids) if i not in known]
    report.already_there = len(image_ids) - len(wanted)
    if not wanted:
        return report
    images = {
        im.pk: im for im in GeneratedImage.objects.filter(pk__in=wanted).prefetch_related(
            "annotations__masks__blob", "annotations__regions__artifact_class", "annotations__model_version",
            "annotations__user")
    }
    missing = [i for i in wanted if i not in images]
    if missing:
        raise ApplicationError(f"unknown image id(s): {missing[:10]}")

    upstream = _tasks_already_in_project(ls, campaign.ls_project_id)
    # What an adopted task shows is not known (prelabel blank); later predictions still follow the holdout.
    adopted = [CampaignTask(campaign=campaign, image_id=i, ls_task_id=upstream[i].id,
                            prelabel_held_out=task_held_out(campaign, images[i])) for i in wanted if i in upstream]
    CampaignTask.objects.bulk_create(adopted, ignore_conflicts=True)
    for task in adopted:  # an adopted task may carry a link signed long ago: pushing it again signs a fresh one
        ls_task_image_link_refresh(ls=ls, task=upstream[task.image_id])
    report.already_there += len(adopted)
    todo = [images[i] for i in wanted if i not in upstream]

    size = settings.LABEL_STUDIO_IMPORT_BATCH_SIZE
    for start in range(0, len(todo), size):
        batch = todo[start:start + size]
        payload, links = [], []
        for image in batch:
            review = starting == "human"
            prediction, source = human_prediction_for(image) if review else prediction_for(image)
            held_out = not review and task_held_out(campaign, image)
            task = {"data": {"image": image_signed_url(image_id=image.pk), IMAGE_ID_FIELD: image.pk,
                             "sha256": image.blob_id, "generator": str(image.generator_id)}}
            if review:  # a human pass is shown, not a model's: blank keeps the review out of the holdout trial
                prelabel = ""
                if prediction is not None:
                    task["predictions"] = [prediction]
                    report.with_prediction += 1
            elif prediction is None:
                prelabel = Annotation.Prelabel.NONE
            elif held_out:
                prelabel, source = Annotation.Prelabel.WITHHELD, None
                report.withheld += 1
            else:
                prelabel = Annotation.Prelabel.SHOWN
                task["predictions"] = [prediction]
                report.with_prediction += 1
            payload.append(task)
            links.append(CampaignTask(campaign=campaign, image=image, prediction=source, prelabel_held_out=held_out,
                                      prelabel=prelabel))
        task_ids = ls.tasks_import(project_id=campaign.ls_project_id, tasks=payload)
        if len(task_ids) != len(batch):
            raise ApplicationError(f"Label Studio created {len(task_ids)} tasks for {len(batch)} images")
        # Label Studio returns the new ids in the order the tasks were sent.
        for link, task_id in zip(links, task_ids):
            link.ls_task_id = task_id
        CampaignTask.objects.bulk_create(links)
        report.pushed += len(batch)
        if on_progress is not None:
            on_progress(report.pushed, len(todo))
    return report


def campaigns_push_predictions(*, image_ids: list[int]) -> int:
    """Add the newest model pre-label to the Label Studio tasks these images already have (tasks pushed
    before the prediction existed, or predicted by an older model). Returns how many tasks got one. A task in
    its campaign's holdout never gets one: it is only marked as withholding a prediction that now exists."""
    tasks = list(CampaignTask.objects.filter(image_id__in=image_ids, campaign__ls_project_id__isnull=False)
                 .select_related("campaign"))
    if not tasks:
        return 0
    images = {im.pk: im for im in GeneratedImage.objects.filter(pk__in={t.image_id for t in tasks}).prefetch_related(
        "annotations__masks__blob", "annotations__regions__artifact_class", "annotations__model_version")}
    ls = ls_client()
    pushed = 0
    for task in tasks:
        prediction, source = prediction_for(images[task.image_id])
        if prediction is None or task.prediction_id == source.pk:
            continue
        if task.prelabel_held_out:
            if task.prelabel == Annotation.Prelabel.NONE:  # blank (adopted, not known) stays blank
                task.prelabel = Annotation.Prelabel.WITHHELD
                task.save(update_fields=["prelabel"])
            continue
        ls.prediction_create(task_id=task.ls_task_id, result=prediction["result"], score=prediction.get("score"),
                             model_version=prediction["model_version"])
        task.prediction, task.prelabel = source, Annotation.Prelabel.SHOWN
        task.save(update_fields=["prediction", "prelabel"])
        pushed += 1
    return pushed


def unlabelled_image_ids(*, campaign: Campaign, limit: int | None = None) -> list[int]:
    """Images of the campaign's generator not labelled yet and not in the campaign, oldest first (all of
    them without `limit`: the candidates active learning orders)."""
    qs = GeneratedImage.objects.filter(is_labelled=False).exclude(campaign_tasks__campaign=campaign)
    if campaign.generator_id:
        qs = qs.filter(generator_id=campaign.generator_id)
    ids = qs.order_by("created_at", "id").values_list("id", flat=True)
    return list(ids if limit is None else ids[:limit])


def campaign_push_enqueue(*, campaign: Campaign, image_ids: list[int] | None = None, unlabelled: int | None = None,
                          created_by=None, starting: str = "model"):
    """Queue a `labelstudio_push` job (queue io) for these images, or for the first `unlabelled` unlabelled
    images of the campaign; returns the Job. Unknown image ids are refused before anything is queued."""
    if image_ids is None:
        image_ids = unlabelled_image_ids(campaign=campaign, limit=unlabelled)
    known = set(GeneratedImage.objects.filter(pk__in=image_ids).values_list("id", flat=True))
    if len(known) != len(set(image_ids)):
        raise ApplicationError(f"unknown image id(s): {sorted(set(image_ids) - known)[:10]}")
    if starting not in STARTING_POINTS:
        raise ApplicationError(f"a push starts from one of {', '.join(STARTING_POINTS)}, not {starting!r}")
    params = {"campaign_id": campaign.pk, "image_ids": list(image_ids)}
    if starting != "model":
        params["starting"] = starting  # the job passes it on to campaign_push_images
    job, _ = job_create(kind="labelstudio_push", params=params,
                        subject=campaign, created_by=created_by)
    return job
