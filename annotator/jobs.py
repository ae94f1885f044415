"""Label Studio sync jobs (queue io): push images into a campaign's project, reconcile a campaign with it.
Thin: ids in params, one service each. Both are safe to run again (push skips tasks it already made;
reconcile compares and repairs), so a retry after a lost worker does no harm."""

from __future__ import annotations

from annotator.models import Campaign
from annotator.services.push import campaign_push_images
from annotator.services.reconcile import campaign_reconcile
from backend.jobs.context import JobContext
from backend.jobs.registry import job_handler


@job_handler("labelstudio_push", queue="io")
def labelstudio_push(ctx: JobContext) -> dict:
    campaign = Campaign.objects.get(pk=ctx.params["campaign_id"])
    ctx.progress(0.0, f"pushing {len(ctx.params['image_ids'])} image(s) to {campaign}")
    report = campaign_push_images(campaign=campaign, image_ids=ctx.params["image_ids"],
                                  starting=ctx.params.get("starting", "model"))
    ctx.log(f"{campaign}: {report.__dict__}")
    return dict(report.__dict__)


@job_handler("labelstudio_reconcile", queue="io")
def labelstudio_reconcile(ctx: JobContext) -> dict:
    campaign = Campaign.objects.get(pk=ctx.params["campaign_id"])
    ctx.progress(0.0, f"reconciling {campaign} with Label Studio")
    report = campaign_reconcile(campaign=campaign).as_dict()
    ctx.log(f"{campaign}: {report}")
    return report
