import json

from django.core.management.base import BaseCommand
from django.db.models import Count

from backend.core.cli import text_table
from backend.images.apis import GeneratorOutputSerializer
from backend.images.selectors import generator_list


class Command(BaseCommand):
    help = "List the generators (name, version, family, how many images): the names `ingest --generator` takes."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print one JSON list (as the API shows them).")

    def handle(self, *args, **opts):
        generators = list(generator_list().annotate(image_count=Count("images")).order_by("name", "version"))
        if opts["json"]:
            self.stdout.write(json.dumps([{**GeneratorOutputSerializer(g).data, "images": g.image_count}
                                          for g in generators]))
            return
        if not generators:
            self.stdout.write("no generators yet: create one with `python manage.py generator_create NAME` "
                              "or `python manage.py ingest PATH --generator NAME --create-generator ...`")
            return
        rows = [("id", "name", "version", "family", "images")]
        rows += [(str(g.pk), g.name, g.version or "-", g.family, str(g.image_count)) for g in generators]
        self.stdout.write(text_table(rows))
