import json

from django.core.management.base import BaseCommand, CommandError

from datasets.models import Dataset
from datasets.services import SPLIT_DIFFERS_LISTED, dataset_version_build, dataset_version_start
from datasets.splits import SPLIT_ORDER

SPLIT_DIFFERS_SHOWN = 20


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
            counts = version.counts
            splits = ", ".join(f"{k} {counts['splits'][k]}" for k in SPLIT_ORDER if k in counts["splits"])
            self.stdout.write(f"{version}: {counts['items']} items ({splits}); manifest {version.manifest_hash[:12]}")
            deviation = ", ".join(f"{k} {counts['split_deviation'][k] * 100:+.1f}" for k in SPLIT_ORDER
                                  if k in counts["split_deviation"])
            self.stdout.write(f"share deviation from target, points: {deviation or 'none (empty)'}")
            differs = counts["split_differs"]
            self.stdout.write(f"{differs['count']} item(s) kept a split from {version.parent or 'no parent'} other"
                              " than their global one")
            for item in differs["items"][:SPLIT_DIFFERS_SHOWN]:
                self.stdout.write(f"  {item['image_sha256'][:12]} (image {item['image_id']}): {item['split']},"
                                  f" global {item['global_split']}")
            if differs["count"] > SPLIT_DIFFERS_SHOWN:
                self.stdout.write(f"  ... and {differs['count'] - SPLIT_DIFFERS_SHOWN} more"
                                  f" (--json lists the first {SPLIT_DIFFERS_LISTED})")
