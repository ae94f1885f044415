import time
from pathlib import Path

import numpy as np
from django.core.management.base import BaseCommand, CommandError
from PIL import Image

from annotator.models import Campaign, SyncedAnnotation
from annotator.services.reconcile import campaign_reconcile
from annotator.simulate import submit_ground_truth
from backend.core.exceptions import ApplicationError
from backend.images.batch import images_ingest_batch
from backend.images.folder import folder_items, folder_plan
from backend.images.models import GeneratedImage, Generator
from backend.images.services import task_resolve
from backend.jobs.models import Job
from learning.services.onboarding import generator_onboard


class Command(BaseCommand):
    help = (
        "Onboard a new generator: ingest its images, send the first --labels images (picked for diversity by "
        "the production model) to a Label Studio campaign, and once they are labelled fine-tune the unified "
        "model on them with the few-shot schedule into a specialist of the generator (scope generator:NAME), "
        "reporting IoU on that generator before and after and the promotion gate's verdict (the unified model "
        "is never replaced by onboarding). "
        "Without --wait it returns after sending the batch; the fine-tuning then starts when the labels arrive."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="Generator name (created if new).")
        parser.add_argument("--generator-version", default="", help="Generator version.")
        parser.add_argument("--images", type=Path, required=True, help="Folder of the generator's images.")
        parser.add_argument("--task", default="text_to_image", help="Synthesis task slug.")
        parser.add_argument("--labels", type=int, default=10, help="How many images humans label first.")
        parser.add_argument("--wait", action="store_true", help="Wait for the labels and the fine-tuning.")
        parser.add_argument("--timeout", type=float, default=24 * 3600, help="Seconds --wait waits at most.")
        parser.add_argument("--simulate-labels", type=Path, default=None,
                            help="Folder of ground-truth masks (same names as --images, .png) submitted as the "
                                 "labellers' work through Label Studio: for demos and benchmarks.")

    def handle(self, *args, **opts):
        if not opts["images"].is_dir():
            raise CommandError(f"--images {opts['images']}: not a folder")
        if opts["labels"] < 3:
            raise CommandError("--labels must be at least 3 (train, val and test each need one)")
        try:
            generator, _ = Generator.objects.get_or_create(name=opts["name"], version=opts["generator_version"])
            report = images_ingest_batch(items=folder_items(folder_plan(opts["images"])), generator=generator,
                                         task=task_resolve(slug=opts["task"]))
            self.stdout.write(f"ingested {report.ingested} images ({report.duplicates} already there, "
                              f"{len(report.rejected)} rejected)")
            result = generator_onboard(generator=generator, labels=opts["labels"])
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        campaign = Campaign.objects.get(pk=result["campaign"])
        self.stdout.write(f"campaign {campaign.name!r}: sent {len(result['picked'])} images picked by "
                          f"{result['strategy']} to Label Studio project {campaign.ls_project_id}")
        if opts["simulate_labels"] is not None:
            self._simulate(campaign, result["picked"], opts["simulate_labels"], opts["images"])
        if not opts["wait"] and opts["simulate_labels"] is None:
            self.stdout.write("fine-tuning starts by itself once the labels arrive (webhook or reconcile)")
            return
        job = self._wait_for_training(campaign, opts["labels"], opts["timeout"])
        comparison = job.result.get("comparison", {})
        before, after = comparison.get("production_artifact_IoU"), comparison.get("candidate_artifact_IoU")
        self.stdout.write(self.style.SUCCESS(
            f"{generator}: artifact IoU before {before if before is not None else 'n/a (no model yet)'} -> after "
            f"{after:.4f} on its {comparison.get('images')} test image(s); {comparison.get('reason')}"
        ))

    def _simulate(self, campaign, image_ids, masks_dir: Path, images_dir: Path) -> None:
        masks = {}
        for image in GeneratedImage.objects.filter(pk__in=image_ids):
            original = Path(image.original_name)
            # ingest records the path it read; the mask sits at the same place under masks_dir
            relative = original.relative_to(images_dir) if original.is_relative_to(images_dir) else Path(original.name)
            candidates = [masks_dir / relative.with_suffix(".png"), masks_dir / f"{relative.stem}.png"]
            path = next((p for p in candidates if p.is_file()), None)
            if path is None:
                raise CommandError(f"--simulate-labels: no mask for {image.original_name} in {masks_dir}")
            masks[image.pk] = np.asarray(Image.open(path)) != 0
        created = submit_ground_truth(campaign=campaign, masks=masks)
        self.stdout.write(f"simulated labellers submitted {created} annotations in Label Studio")

    def _wait_for_training(self, campaign, labels: int, timeout: float) -> Job:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            campaign_reconcile(campaign=campaign)  # in case a webhook was lost
            job = Job.objects.for_subject(campaign).filter(kind="train_segmenter").order_by("-created_at").first()
            if job is not None and job.status in ("succeeded", "failed", "cancelled"):
                if job.status != "succeeded":
                    raise CommandError(f"fine-tuning job {job.pk} {job.status}: {job.message or job.traceback[-500:]}")
                return job
            labelled = SyncedAnnotation.objects.filter(campaign=campaign, deleted_at=None).count()
            self.stdout.write(f"waiting: {labelled}/{labels} labels, training job "
                              f"{job.status if job else 'not queued yet'}")
            time.sleep(5)
        raise CommandError(f"timed out after {timeout:.0f} s waiting for labels and fine-tuning")
