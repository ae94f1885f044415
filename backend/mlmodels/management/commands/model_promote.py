from django.core.management.base import BaseCommand, CommandError

from backend.core.exceptions import ApplicationError
from backend.mlmodels.models import ModelVersion
from backend.mlmodels.selectors import model_version_lookup
from backend.mlmodels.services import model_promote


class Command(BaseCommand):
    help = "Make a model version (id or NAME@VERSION) the production model of its kind; the previous one retires."

    def add_arguments(self, parser):
        parser.add_argument("model", help="Model version id or NAME@VERSION.")
        parser.add_argument("--kind", default=None, choices=ModelVersion.Kind.values)

    def handle(self, *args, **opts):
        try:
            model = model_promote(model_version=model_version_lookup(opts["model"], kind=opts["kind"]))
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"{model.kind} {model.name}@{model.version} is now in production")
