import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from backend.core.exceptions import ApplicationError
from backend.mlmodels.models import ModelVersion
from backend.mlmodels.services import model_promote, model_register
from datasets.models import DatasetVersion
from datasets.selectors import version_reference


class Command(BaseCommand):
    help = (
        "Register a trained checkpoint as a candidate model version (stored as a blob). For a segmenter: a "
        "best.pth from `python -m ml.segmentation.train` (its metrics.json beside it is picked up) or PAL4VST's "
        "TorchScript end2end.pt. Exit status 1 with a message when the checkpoint is missing or unusable."
    )

    def add_arguments(self, parser):
        parser.add_argument("--checkpoint", type=Path, required=True)
        parser.add_argument("--name", required=True, help="Model name, e.g. pal4vst-unified.")
        parser.add_argument("--kind", default=ModelVersion.Kind.SEGMENTER, choices=ModelVersion.Kind.values)
        parser.add_argument("--model-version", default=None, help="Default: the next free vN for this name.")
        parser.add_argument("--metrics", type=Path, default=None, help="Metrics JSON (default: metrics.json beside).")
        parser.add_argument("--dataset-version", type=int, default=None,
                            help="Id of the dataset version it was trained on.")
        parser.add_argument("--scope", default="unified",
                            help="Images it serves: unified (default), generator:<name> or task:<slug>.")
        parser.add_argument("--promote", action="store_true",
                            help="Also make it the production model of its scope (an admin's call: no gate).")
        parser.add_argument(
            "--trust-config", action="store_true",
            help="Admin only: accept a segmenter config embedded in the checkpoint that is not one shipped in "
                 "ml/segmentation/configs/ (same name and content). The config is Python and runs whenever the "
                 "model loads; recorded on the model version.")

    def handle(self, *args, **opts):
        try:
            metrics = None
            if opts["metrics"] is not None:
                if not opts["metrics"].is_file():
                    raise ApplicationError(f"--metrics {opts['metrics']}: no such file")
                metrics = json.loads(opts["metrics"].read_text())
            dataset_version = None
            if opts["dataset_version"] is not None:
                dataset_version = DatasetVersion.objects.filter(pk=opts["dataset_version"]).first()
                if dataset_version is None:
                    raise ApplicationError(f"no dataset version with id {opts['dataset_version']}")
            model = model_register(
                kind=opts["kind"], name=opts["name"], checkpoint_path=opts["checkpoint"], version=opts["model_version"],
                metrics=metrics, trained_on=version_reference(dataset_version) if dataset_version else None,
                trust_config=opts["trust_config"], scope=opts["scope"],
            )
            if opts["promote"]:
                model = model_promote(model_version=model)
        except (ApplicationError, json.JSONDecodeError) as exc:
            raise CommandError(getattr(exc, "message", str(exc))) from exc
        self.stdout.write(f"registered {model.kind} {model.name}@{model.version} (id {model.pk}, {model.scope}, "
                          f"{model.status})")
