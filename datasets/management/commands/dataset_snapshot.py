import json

from django.core.management.base import BaseCommand, CommandError

from datasets.models import Dataset
from datasets.services import dataset_version_build, dataset_version_start


class Command(BaseCommand):
    help = "Freeze a dataset into a new immutable version (runs the build here, not on a worker)."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--note", default="")
        parser.add_argument("--json", action="store_true", help="Print one JSON object.")

    def handle(self, *args, name: str, note: str, **o):
        dataset = Dataset.objects.filter(name=name).first()
        if dataset is None:
            raise CommandError(f"no dataset named {name!r}")
        version = dataset_version_build(version=dataset_version_start(dataset=dataset, note=note))
        if o["json"]:
            self.stdout.write(json.dumps({"dataset": name, "version": version.number, "id": version.pk,
                                          "manifest_hash": version.manifest_hash, "counts": version.counts}))
        else:
            splits = ", ".join(f"{k} {v}" for k, v in version.counts["splits"].items())
            self.stdout.write(f"{version}: {version.counts['items']} items ({splits});"
                              f" manifest {version.manifest_hash[:12]}")
