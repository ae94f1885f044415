from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from backend.core.cli import add_quiet_argument, progress_bar, progress_callback
from backend.core.exceptions import ApplicationError
from datasets.export_run import export_run
from datasets.exporters import EXPORTERS
from datasets.exporters.files import LinkMode
from datasets.models import DatasetVersion, Export


def resolve_version(spec: str) -> DatasetVersion:
    """NAME (newest ready version), NAME@N or NAME@vN."""
    name, _, number = spec.partition("@")
    qs = DatasetVersion.objects.filter(dataset__name=name, status=DatasetVersion.Status.READY).select_related("dataset")
    if number:
        if not (number.lstrip("v").isascii() and number.lstrip("v").isdigit()):
            raise CommandError(f"bad version {spec!r}: use NAME, NAME@N or NAME@vN")
        qs = qs.filter(number=int(number.lstrip("v")))
    version = qs.order_by("-number").first()
    if version is None:
        raise CommandError(f"no ready dataset version {spec!r}")
    return version


class Command(BaseCommand):
    help = "Export a dataset version: a folder, or an archive when --out ends in .tar.gz / .tar."

    def add_arguments(self, parser):
        parser.add_argument("version", help="NAME, NAME@N or NAME@vN")
        parser.add_argument("--format", required=True, choices=sorted(EXPORTERS))
        parser.add_argument("--out", required=True, type=Path)
        parser.add_argument("--link", choices=[m.value for m in LinkMode], default=LinkMode.AUTO.value,
                            help="folder exports: hard-link blob files instead of copying them (auto: where the "
                                 "blobs are on the same filesystem; always: or fail; never: copy). Linked files "
                                 "are read-only: replace one rather than writing into it")
        add_quiet_argument(parser)

    def handle(self, *args, version: str, format: str, out: Path, link: str, **o):
        dataset_version = resolve_version(version)
        export = Export.objects.create(version=dataset_version, format=format)
        try:
            with progress_bar(desc=f"export {format}", total=dataset_version.counts.get("items"), unit="item",
                              quiet=o["quiet"]) as bar:
                export = export_run(export=export, out=out, on_progress=progress_callback(bar), link=link)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        except OSError as exc:  # disk full, permissions: say what and where, nothing was published
            raise CommandError(f"export to {out} failed, nothing was written there: {exc}") from exc
        self.stdout.write(f"exported {dataset_version} as {format} to {export.path}")
