"""The learning loop as `make demo` runs it: a first unified model from the labelled demo set, then rounds on
a new generator — pre-label, pick the next batch by uncertainty, simulated labellers answer in Label Studio,
reconcile brings the labels in, retraining fine-tunes and promotes when better — with IoU per round on held-out
images of the new generator that no round ever labels."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from annotator.models import Campaign
from annotator.services.provision import campaign_create, campaign_prelabel_holdout_set, campaign_provision
from annotator.services.reconcile import campaign_reconcile
from annotator.simulate import submit_ground_truth
from backend.images.batch import images_ingest_batch
from backend.images.folder import folder_items, folder_plan
from backend.images.models import GeneratedImage, Generator
from backend.images.services import task_resolve
from backend.jobs.models import Job
from backend.jobs.services import job_create
from backend.mlmodels.models import ModelVersion
from backend.mlmodels.predictors import segmenter_predictor
from backend.mlmodels.selectors import model_production_get
from learning.services.retrain import retrain_policy_set
from learning.services.rounds import campaign_next_batch
from ml.segmentation.evaluation import evaluate_split

# The demo campaigns withhold the prediction from a fifth of their tasks, so the labelling-time page has a
# randomised comparison to show (annotator.holdout).
DEMO_PRELABEL_HOLDOUT = 0.2


@dataclass
class Round:
    number: int
    labels: int
    model: str
    promoted: bool
    heldout_iou: float
    note: str


def heldout_iou(folder: Path) -> float:
    model = model_production_get(kind=ModelVersion.Kind.SEGMENTER)
    return evaluate_split(segmenter_predictor(model), folder, "test")["artifact_IoU"] or 0.0


def train_first_model(*, dataset, max_iters: int) -> Job:
    job, _ = job_create(kind="train_segmenter", params={"dataset_id": dataset.pk, "max_iters": max_iters})
    job.refresh_from_db()
    return job


def run_rounds(*, folder: Path, generator: Generator, campaign_name: str, rounds: int, k: int,
               round_iters: int, log) -> list[Round]:
    """`folder` is a PAL4VST-layout set of the new generator: train/ images are the pool (ingested
    unlabelled), test/ the held-out images the IoU is measured on, labels/ the simulated labellers' answers."""
    report = images_ingest_batch(items=folder_items(folder_plan(folder / "images" / "train")), generator=generator,
                                 task=task_resolve(slug="text_to_image"))
    log(f"new generator {generator}: {report.ingested} unlabelled images ingested and pre-labelled")
    truth = {}
    for image in GeneratedImage.objects.filter(generator=generator):
        label = folder / "labels" / "train" / Path(image.original_name).name
        if label.is_file():
            truth[image.pk] = np.asarray(Image.open(label)) != 0
    campaign = Campaign.objects.filter(name=campaign_name).first() or campaign_create(
        name=campaign_name, generator=generator, prelabel_holdout=DEMO_PRELABEL_HOLDOUT)
    campaign_prelabel_holdout_set(campaign=campaign, prelabel_holdout=DEMO_PRELABEL_HOLDOUT)
    retrain_policy_set(campaign=campaign, min_new_labels=k, max_iters=round_iters)
    campaign_provision(campaign=campaign)

    model = model_production_get(kind=ModelVersion.Kind.SEGMENTER)
    rows = [Round(0, 0, str(model), True, heldout_iou(folder), "unified model before any label")]
    labels = 0
    for number in range(1, rounds + 1):
        batch = campaign_next_batch(campaign=campaign, k=k, strategy="uncertainty")
        picked = [p["image"] for p in batch["picked"]]
        submitted = submit_ground_truth(campaign=campaign, masks={i: truth[i] for i in picked if i in truth})
        before = Job.objects.for_subject(campaign).filter(kind="train_segmenter").count()
        campaign_reconcile(campaign=campaign)  # intake -> threshold reached -> training job (in-process here)
        labels += submitted
        job = Job.objects.for_subject(campaign).filter(kind="train_segmenter").order_by("-created_at").first()
        trained = Job.objects.for_subject(campaign).filter(kind="train_segmenter").count() > before
        comparison = (job.result or {}).get("comparison", {}) if trained else {}
        model = model_production_get(kind=ModelVersion.Kind.SEGMENTER)
        note = comparison.get("reason", "no training this round") if trained else "no training this round"
        if trained and job.status != "succeeded":
            note = f"training {job.status}: {job.message}"
        rows.append(Round(number, labels, str(model), bool(comparison.get("promoted")), heldout_iou(folder), note))
        log(f"round {number}: {labels} labels, production {model}, held-out IoU {rows[-1].heldout_iou:.3f} ({note})")
    return rows
