import json

from django.core.management.base import BaseCommand, CommandError

from backend.core.exceptions import ApplicationError
from backend.images.apis import GeneratorOutputSerializer
from backend.images.models import Generator
from backend.images.services import generator_get_or_create


class Command(BaseCommand):
    help = (
        "Create a generator (what POST /api/generators/ does), idempotently: when it exists with the same "
        "family and metadata nothing changes and the exit status is 0; different ones are an error (exit 1)."
    )

    def create_parser(self, prog_name, subcommand, **kwargs):
        # --version is the generator's here, not Django's "print the Django version": the later flag wins.
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--version", default="", help="Generator version (default: none).")
        parser.add_argument("--family", choices=Generator.Family.values, default=None,
                            help="Model family (default on creation: other).")
        parser.add_argument("--metadata", default=None, help='A JSON object, e.g. \'{"url": "https://..."}\'.')
        parser.add_argument("--json", action="store_true",
                            help="Print exactly one JSON object: the generator as the API shows it, and `created`.")

    def handle(self, *args, name: str, version: str, family: str | None, metadata: str | None, **opts):
        try:
            parsed = json.loads(metadata) if metadata is not None else None
        except json.JSONDecodeError as exc:
            raise CommandError(f"--metadata is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})")
        try:
            generator, created = generator_get_or_create(name=name, version=version, family=family, metadata=parsed)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        if opts["json"]:
            self.stdout.write(json.dumps({**GeneratorOutputSerializer(generator).data, "created": created}))
        elif created:
            self.stdout.write(f"created generator {str(generator)!r} (id {generator.pk}, family {generator.family})")
        else:
            self.stdout.write(f"generator {str(generator)!r} already exists (id {generator.pk}, family "
                              f"{generator.family}); nothing changed")
