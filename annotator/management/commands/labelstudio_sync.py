import json

from django.core.management.base import BaseCommand, CommandError

from annotator.models import Campaign
from annotator.services.provision import campaign_create, campaign_provision
from annotator.services.push import campaign_push_images, unlabelled_image_ids
from backend.core.cli import add_quiet_argument, progress_bar, progress_callback
from backend.core.exceptions import ApplicationError
from backend.images.services import generator_resolve


class Command(BaseCommand):
    help = "Provision Label Studio projects and webhooks for campaigns (idempotent); optionally push unlabelled images."

    def add_arguments(self, parser):
        parser.add_argument("--project",
                            help="Campaign name (created if new) or Label Studio project id; default: all.")
        parser.add_argument("--generator", help="Generator name for a new campaign (its images only).")
        parser.add_argument("--push-unlabelled", type=int, default=0, metavar="N",
                            help="Also push up to N unlabelled images to each campaign.")
        add_quiet_argument(parser)

    def handle(self, *args, project=None, generator=None, push_unlabelled=0, **options):
        try:
            campaigns = self._campaigns(project, generator)
            for campaign in campaigns:
                campaign_provision(campaign=campaign)
                line = {"campaign": campaign.name, "project": campaign.ls_project_id, "webhook": campaign.ls_webhook_id}
                if push_unlabelled:
                    ids = unlabelled_image_ids(campaign=campaign, limit=push_unlabelled)
                    with progress_bar(desc=f"push to {campaign.name}", total=len(ids), unit="task",
                                      quiet=options["quiet"]) as bar:
                        report = campaign_push_images(campaign=campaign, image_ids=ids,
                                                      on_progress=progress_callback(bar))
                    line["push"] = report.__dict__
                self.stdout.write(json.dumps(line))
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc

    def _campaigns(self, project, generator) -> list[Campaign]:
        if project is None:
            campaigns = list(Campaign.objects.all())
            if not campaigns:
                raise CommandError("no campaigns yet; name one with --project NAME")
            return campaigns
        if project.isascii() and project.isdigit():
            found = Campaign.objects.filter(ls_project_id=int(project)).first()
            if found is None:
                raise CommandError(f"no campaign uses Label Studio project {project}")
            return [found]
        found = Campaign.objects.filter(name=project).first()
        if found is None:
            gen = generator_resolve(name=generator) if generator else None
            found = campaign_create(name=project, generator=gen)
        return [found]
