from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from backend.core.exceptions import ApplicationError
from datasets.benchmarks import benchmark_create


class Command(BaseCommand):
    help = ("Freeze a benchmark: the human-labelled images of the global test split in a scope (global, "
            "generator:<name> or task:<slug>). Every segmenter is scored on it, and every model registered later. "
            "Exit status 1 with a message when the scope is unknown or holds fewer than --min-images images.")

    def add_arguments(self, parser):
        parser.add_argument("scope", help="global, generator:<name> or task:<slug>")
        parser.add_argument("--min-images", type=int, default=None,
                            help="Refuse a smaller benchmark (default FLAWMAP_BENCHMARK_MIN_IMAGES, "
                                 f"now {settings.FLAWMAP_BENCHMARK_MIN_IMAGES}).")
        parser.add_argument("--name", default="", help="Default: the scope.")

    def handle(self, *args, **o):
        min_images = o["min_images"] if o["min_images"] is not None else settings.FLAWMAP_BENCHMARK_MIN_IMAGES
        try:
            benchmark = benchmark_create(scope=o["scope"], min_images=min_images, name=o["name"])
        except ApplicationError as exc:
            raise CommandError(f"benchmark_create: {exc.message}") from exc
        self.stdout.write(f"created benchmark {benchmark.name!r} (id {benchmark.pk}): {benchmark.n_images} images "
                          f"of scope {benchmark.scope}")
