import csv
import json
import sys
from pathlib import Path

import numpy as np
from django.core.management.base import BaseCommand, CommandError

from backend.images.models import GeneratedImage, SynthesisTask
from backend.images.selectors import image_pixels
from backend.mlmodels.models import ModelVersion
from backend.mlmodels.predictors import segmenter_predictor
from backend.mlmodels.selectors import production_models, production_route
from ml.rectify import flagged_regions
from ml.segmentation.checkpoint import CheckpointError
from ml.segmentation.predict import list_images
from ml.segmentation.predictor import ImageReadError, Predictor, read_image


class Command(BaseCommand):
    help = (
        "Rank images by the segmenter's PAR, fewest artifacts first: a folder that need not be ingested, or the "
        "ingested images of a task (--task real_photo). Writes rank,name,par as CSV (--out, default stdout); "
        "--regions also writes the flagged regions (box, area) of every image as JSON. Unreadable images are "
        "reported and skipped. Exit status: 0 all ranked, 1 bad arguments or nothing ranked, 2 some skipped."
    )

    def add_arguments(self, parser):
        parser.add_argument("dir", type=Path, nargs="?", help="Folder of images (searched recursively).")
        parser.add_argument("--task", help="Instead of a folder: the ingested images of this synthesis task.")
        parser.add_argument("--checkpoint", type=Path, help="Segmenter checkpoint (default: the production one).")
        parser.add_argument("--out", type=Path, help="CSV file to write (default: stdout).")
        parser.add_argument("--regions", type=Path, help="Also write each image's flagged regions to this JSON.")
        parser.add_argument("--min-area", type=int, default=16, help="Regions smaller than this (pixels) are specks.")
        parser.add_argument("--device", default=None, choices=["auto", "cpu", "cuda"])
        parser.add_argument("--batch-size", type=int, default=8)

    def handle(self, *args, **opts):
        if (opts["dir"] is None) == (opts["task"] is None):
            raise CommandError("give a folder or --task SLUG (one of them)")
        if opts["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1")
        sources = self._folder(opts["dir"]) if opts["dir"] is not None else self._task(opts["task"])
        # Ingested images are routed (each by the production model of its most specific scope); a folder's
        # images have no generator or task, so the unified model (or --checkpoint) ranks them.
        groups = [(self._predictor(opts, model), group) for model, group in self._routed(sources, opts)]

        scores: list[tuple[float, str]] = []
        regions: dict[str, dict] = {}
        skipped = 0
        batch: list[tuple[str, np.ndarray]] = []

        def flush():
            masks, _, pars = predictor.predict([array for _, array in batch])
            for (name, array), mask, par in zip(batch, masks, pars):
                scores.append((par, name))
                if opts["regions"]:
                    regions[name] = {"width": array.shape[1], "height": array.shape[0], "par": par,
                                     "regions": flagged_regions(mask, min_area=opts["min_area"])}
            batch.clear()

        for predictor, group in groups:
            for name, load, _image in group:
                try:
                    batch.append((name, load()))
                except ImageReadError as exc:
                    skipped += 1
                    self.stderr.write(f"skipped {name}: {exc}")
                    continue
                if len(batch) >= predictor.batch_size:
                    flush()
            if batch:
                flush()
        if not scores:
            raise CommandError("nothing could be ranked")
        scores.sort()
        out = open(opts["out"], "w", newline="") if opts["out"] else sys.stdout
        try:
            writer = csv.writer(out)
            writer.writerow(["rank", "name", "par"])
            for rank, (par, name) in enumerate(scores, start=1):
                writer.writerow([rank, name, f"{par:.6f}"])
        finally:
            if opts["out"]:
                out.close()
        if opts["regions"]:
            opts["regions"].write_text(json.dumps(regions, indent=1))
        if opts["out"]:
            self.stdout.write(f"ranked {len(scores)} image(s) -> {opts['out']} ({skipped} skipped)")
        if skipped:
            sys.exit(2)

    def _routed(self, sources, opts):
        """[(production model or None for --checkpoint, [(name, loader, image)])], one entry per serving model."""
        if opts["checkpoint"] is not None:
            return [(None, sources)]
        productions = production_models(kind=ModelVersion.Kind.SEGMENTER)
        if not productions:
            raise CommandError("no production segmenter; pass --checkpoint")
        groups: dict = {}
        for name, load, image in sources:
            route = dict(generator=image.generator.name, task=image.task.slug) if image else {}
            model = production_route(productions, generator=route.get("generator"), task=route.get("task"))
            if model is None:
                raise CommandError("no production segmenter; pass --checkpoint")
            groups.setdefault(model, []).append((name, load, image))
        return list(groups.items())

    def _predictor(self, opts, model):
        from django.conf import settings

        device = opts["device"] or settings.FLAWMAP_ML_DEVICE
        try:
            if model is None:
                return Predictor(opts["checkpoint"], device=device, batch_size=opts["batch_size"])
            return segmenter_predictor(model, device=device, batch_size=opts["batch_size"])
        except (CheckpointError, ValueError) as exc:
            raise CommandError(str(exc)) from exc

    def _folder(self, folder: Path):
        """(name, loader) per image file; the loader raises ImageReadError for a file that isn't one."""
        if not folder.is_dir():
            raise CommandError(f"{folder}: no such folder")
        return [(p.relative_to(folder).as_posix(), lambda p=p: read_image(p), None) for p in list_images(folder)]

    def _task(self, slug: str):
        """Ingested images of a task, named images/<id> (their API path); read from blob storage lazily."""
        if not SynthesisTask.objects.filter(slug=slug).exists():
            raise CommandError(f"unknown synthesis task {slug!r}")

        def load(image):
            try:
                return image_pixels(image)
            except OSError as exc:
                raise ImageReadError(f"images/{image.pk}: cannot read ({exc})") from exc

        images = (GeneratedImage.objects.filter(task__slug=slug).select_related("blob", "generator", "task")
                  .order_by("id"))
        return [(f"images/{image.pk}", lambda image=image: load(image), image) for image in images.iterator()]
