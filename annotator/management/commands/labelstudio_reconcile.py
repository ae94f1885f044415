import json

from django.core.management.base import BaseCommand, CommandError

from annotator.models import Campaign
from annotator.services.reconcile import campaign_reconcile
from backend.core.cli import add_quiet_argument, progress_bar, progress_callback
from backend.core.exceptions import ApplicationError


class Command(BaseCommand):
    help = "Pull annotations Label Studio has but Flawmap missed (lost webhooks), re-enable disabled webhooks."

    def add_arguments(self, parser):
        parser.add_argument("--project", help="Campaign name; default: every provisioned campaign.")
        add_quiet_argument(parser)

    def handle(self, *args, project=None, **options):
        campaigns = Campaign.objects.exclude(ls_project_id=None)
        if project:
            campaigns = campaigns.filter(name=project)
            if not campaigns.exists():
                raise CommandError(f"no provisioned campaign named {project!r}")
        failed = 0
        for campaign in campaigns:
            try:
                with progress_bar(desc=f"reconcile {campaign.name}", unit="task", quiet=options["quiet"]) as bar:
                    report = campaign_reconcile(campaign=campaign, on_progress=progress_callback(bar))
            except ApplicationError as exc:
                raise CommandError(f"{campaign.name}: {exc.message}") from exc
            failed += report.failed
            self.stdout.write(json.dumps({"campaign": campaign.name, **report.as_dict()}))
        if failed:
            self.stderr.write(f"{failed} annotation(s) could not be stored; see /api/labelstudio/events/?status=failed")
