import json
from datetime import datetime

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from backend.core.exceptions import ApplicationError
from backend.images.models import SynthesisTask
from backend.images.services import generator_resolve, task_resolve
from datasets.models import Dataset
from datasets.selection import split_disagreements
from datasets.services import dataset_create, dataset_name_check

SPLIT_DIFFERS_SHOWN = 20


def _when(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"not an ISO date/time: {value!r}") from exc


class Command(BaseCommand):
    help = "Create a dataset: a named selection of images plus its label policy and split rules."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--description", default="")
        parser.add_argument("--generator", action="append", default=[], help="Generator name[:version]; repeatable.")
        parser.add_argument("--task", action="append", default=[], help="Synthesis task slug; repeatable.")
        parser.add_argument("--created-after", type=_when)
        parser.add_argument("--created-before", type=_when)
        parser.add_argument("--label-status", choices=Dataset.LabelStatus.values, default=Dataset.LabelStatus.LABELLED)
        parser.add_argument("--class", dest="classes", action="append", default=[], help="Artifact class slug.")
        parser.add_argument("--label-policy", choices=Dataset.LabelPolicy.values,
                            default=Dataset.LabelPolicy.LATEST_HUMAN)
        parser.add_argument("--group-key", choices=Dataset.GroupKey.values, default=Dataset.GroupKey.IMAGE)
        parser.add_argument("--splits", default=None,
                            help='JSON shares, e.g. \'{"train": 0.8, "val": 0.1, "test": 0.1}\'.')

    def handle(self, *args, **o):
        try:
            dataset_name_check(o["name"])  # before resolving anything else: the name is what most often is wrong
            generators = [generator_resolve(name=g.split(":", 1)[0], version=g.split(":", 1)[1] if ":" in g else None)
                          for g in o["generator"]]
            tasks: list[SynthesisTask] = [task_resolve(slug=t) for t in o["task"]]
            splits = json.loads(o["splits"]) if o["splits"] else None
            dataset = dataset_create(
                name=o["name"], description=o["description"], generators=generators, tasks=tasks,
                created_after=o["created_after"], created_before=o["created_before"], label_status=o["label_status"],
                classes=o["classes"], label_policy=o["label_policy"], group_key=o["group_key"], splits=splits,
            )
        except json.JSONDecodeError as exc:
            raise CommandError(f"--splits is not valid JSON: {exc.msg}") from exc
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"created dataset {dataset.name!r} (id {dataset.pk})")
        # Its images get their global splits; existing versions are immutable and may hold some of them under
        # another split (an older seed or split rule, another group key or other shares): say which.
        report = split_disagreements(dataset=dataset, seed=settings.FLAWMAP_SPLIT_SEED, limit=SPLIT_DIFFERS_SHOWN)
        self.stdout.write(f"{report['count']} item(s) of existing versions hold an image it selects under another"
                          f" split ({report['train_test']} train on one side, test on the other)")
        for item in report["items"]:
            self.stdout.write(f"  {item['image_sha256'][:12]} (image {item['image_id']}): {item['split']} in"
                              f" {item['version']}, {item['split_here']} here")
        if report["count"] > len(report["items"]):
            self.stdout.write(f"  ... and {report['count'] - len(report['items'])} more")
