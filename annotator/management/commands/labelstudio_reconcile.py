import json

from django.core.management.base import BaseCommand, CommandError

from annotator.models import Campaign
from annotator.services.reconcile import campaign_reconcile_or_record
from backend.core.cli import add_quiet_argument, progress_bar, progress_callback


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
        failed, broken = 0, []
        for campaign in campaigns:
            with progress_bar(desc=f"reconcile {campaign.name}", unit="task", quiet=options["quiet"]) as bar:
                # a campaign that fails is reported, and the next one is still reconciled
                report = campaign_reconcile_or_record(campaign=campaign, on_progress=progress_callback(bar))
            if report.error:
                broken.append(f"{campaign.name}: {report.error}")
            failed += report.failed
            self.stdout.write(json.dumps({"campaign": campaign.name, **report.as_dict()}))
        if failed:
            self.stderr.write(f"{failed} annotation(s) could not be stored; see /api/labelstudio/events/?status=failed")
        if broken:
            raise CommandError(f"{len(broken)} campaign(s) not reconciled: " + "; ".join(broken))
