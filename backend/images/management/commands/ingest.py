import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from backend.core.cli import add_quiet_argument, progress_bar
from backend.core.exceptions import ApplicationError
from backend.core.roles import Role
from backend.core.users import user_get_or_create_with_role
from backend.images.batch import images_ingest_batch
from backend.images.folder import folder_items, folder_plan
from backend.images.models import Generator
from backend.images.services import GeneratorNotFound, generator_get_or_create, generator_resolve, task_resolve


class Command(BaseCommand):
    help = (
        "Exit status: 0 all stored or duplicates, 1 bad arguments, 2 some files rejected. "
        "Ingest generated images from a folder (recursive) or a PAL4VST root (images/{split}, labels/{split}). "
        "Bad files are reported and skipped; the rest go in. Re-ingesting the same bytes adds nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path, help="A folder, a single image, or a PAL4VST-layout root.")
        parser.add_argument("--generator", required=True,
                            help="Generator name (`manage.py generators` lists them).")
        parser.add_argument("--generator-version", default=None, help="Its version, when it has several.")
        parser.add_argument("--create-generator", action="store_true",
                            help="Create the generator when it does not exist yet (with --family).")
        parser.add_argument("--family", choices=Generator.Family.values, default=None,
                            help="With --create-generator: the new generator's family (default other).")
        parser.add_argument("--task", required=True,
                            help="Synthesis task slug, e.g. text_to_image (`manage.py tasks` lists them).")
        parser.add_argument("--masks", type=Path, default=None,
                            help="Folder of human masks (same relative names, .png).")
        parser.add_argument("--manifest", type=Path, default=None, help="JSON-lines file of per-image metadata.")
        parser.add_argument("--annotator", default="import", help="User the imported masks are attributed to.")
        parser.add_argument("--json", action="store_true", help="Print exactly one JSON object with the result.")
        add_quiet_argument(parser)

    def handle(self, *args, **opts):
        if opts["family"] is not None and not opts["create_generator"]:
            raise CommandError("--family only applies with --create-generator")
        try:
            task = task_resolve(slug=opts["task"])
            for flag in ("masks", "manifest"):
                if opts[flag] is not None and not opts[flag].exists():
                    raise ApplicationError(f"--{flag} {opts[flag]}: no such file or directory")
            plan = folder_plan(opts["path"], masks_dir=opts["masks"], manifest=opts["manifest"])
            generator = self._generator(opts)  # last: a bad argument above must not leave a new generator behind
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc

        annotator = None
        if plan.masks_dir is not None:
            annotator = user_get_or_create_with_role(username=opts["annotator"], role=Role.ANNOTATOR)
        with progress_bar(desc="ingest", total=plan.total, unit="img", quiet=opts["quiet"] or opts["json"]) as bar:
            report = images_ingest_batch(
                items=folder_items(plan), generator=generator, task=task, annotator=annotator,
                on_item=lambda: bar.update(1),
            )
        if opts["json"]:
            self.stdout.write(json.dumps(report.as_dict()))
        else:
            self.stdout.write(f"ingested {report.ingested}, duplicates {report.duplicates},"
                              f" rejected {len(report.rejected)}")
            for rej in report.rejected:
                self.stderr.write(f"rejected {rej['path']}: {rej['error']}")
        if report.rejected:
            # Scripts must notice rejected files even though the good ones went in.
            sys.exit(2)

    def _generator(self, opts) -> Generator:
        name, version = opts["generator"], opts["generator_version"]
        try:
            # Without --generator-version an existing generator of that name is the one meant, as without the flag.
            generator = generator_resolve(name=name, version=version)
            if opts["family"] is not None and generator.family != opts["family"]:
                raise ApplicationError(f"generator {str(generator)!r} exists with family {generator.family!r}, "
                                       f"not {opts['family']!r}; nothing was ingested")
            return generator
        except GeneratorNotFound as exc:
            if not opts["create_generator"]:
                raise GeneratorNotFound(f"{exc.message}; or pass --create-generator [--family "
                                        f"{'|'.join(Generator.Family.values)}] to create it now") from exc
        generator, _ = generator_get_or_create(name=name, version=version or "", family=opts["family"])
        if not opts["json"]:
            self.stdout.write(f"created generator {str(generator)!r} (family {generator.family})")
        return generator
