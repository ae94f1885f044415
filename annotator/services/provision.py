"""Create or update a campaign's Label Studio project and webhook; running it twice changes nothing."""

from django.conf import settings
from django.db import transaction

from annotator.client import LabelStudioClient, LsProject, ls_client
from annotator.labeling_config import labeling_config
from annotator.models import Campaign
from backend.core.exceptions import ApplicationError
from backend.images.models import Generator
from backend.taxonomy.selectors import artifact_class_list

WEBHOOK_ACTIONS = ["ANNOTATION_CREATED", "ANNOTATIONS_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_DELETED"]


def project_title(campaign: Campaign) -> str:
    return f"Flawmap: {campaign.name}"[:50]  # Label Studio caps titles at 50 characters


def campaign_labeling_config() -> str:
    return labeling_config([(c.name, c.definition) for c in artifact_class_list()])


def _check_holdout(share: float) -> float:
    # NaN fails both comparisons; a bool is an int to Python but no share.
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0.0 <= share <= 1.0:
        raise ApplicationError(f"prelabel_holdout must be a share between 0 and 1, not {share!r}")
    return float(share)


@transaction.atomic
def campaign_create(*, name: str, description: str = "", generator: Generator | None = None,
                    prelabel_holdout: float = 0.0) -> Campaign:
    prelabel_holdout = _check_holdout(prelabel_holdout)
    if Campaign.objects.filter(name=name).exists():
        raise ApplicationError(f"campaign {name!r} already exists")
    return Campaign.objects.create(name=name, description=description, generator=generator,
                                   prelabel_holdout=prelabel_holdout)


@transaction.atomic
def campaign_prelabel_holdout_set(*, campaign: Campaign, prelabel_holdout: float) -> Campaign:
    """Applies to tasks pushed from now on; tasks already pushed keep what they were decided at push."""
    campaign.prelabel_holdout = _check_holdout(prelabel_holdout)
    campaign.save(update_fields=["prelabel_holdout"])
    return campaign


def campaign_create_provisioned(*, name: str, description: str = "", generator: Generator | None = None,
                                prelabel_holdout: float = 0.0) -> Campaign:
    """A new campaign with its Label Studio project and webhook; if provisioning fails, no campaign is left."""
    campaign = campaign_create(name=name, description=description, generator=generator,
                               prelabel_holdout=prelabel_holdout)
    try:
        campaign_provision(campaign=campaign)
    except Exception:
        campaign.delete()  # no campaign without its project
        raise
    return campaign


def _find_project(ls: LabelStudioClient, campaign: Campaign) -> LsProject | None:
    projects = ls.projects()
    if campaign.ls_project_id:
        for project in projects:
            if project.id == campaign.ls_project_id:
                return project
    # Our row may have lost the id (crash after create): adopt the project by its title.
    title = project_title(campaign)
    return next((p for p in projects if p.title == title), None)


def campaign_provision(*, campaign: Campaign) -> Campaign:
    ls = ls_client()
    config = campaign_labeling_config()
    project = _find_project(ls, campaign)
    if project is None:
        project = ls.project_create(title=project_title(campaign), description=campaign.description or "",
                                    label_config=config)
    elif project.label_config.strip() != config.strip():
        ls.project_set_label_config(project_id=project.id, label_config=config)

    headers = {settings.LABEL_STUDIO_WEBHOOK_HEADER: settings.LABEL_STUDIO_WEBHOOK_SECRET}
    hooks = [h for h in ls.webhooks(project_id=project.id) if h.url == settings.LABEL_STUDIO_WEBHOOK_URL]
    for extra in hooks[1:]:
        ls.webhook_delete(webhook_id=extra.id)
    wanted = {"headers": headers, "actions": WEBHOOK_ACTIONS, "send_payload": True, "send_for_all_actions": False,
              "is_active": True}
    if hooks:
        hook = hooks[0]
        current = {"headers": hook.headers, "actions": hook.actions, "send_payload": hook.send_payload,
                   "send_for_all_actions": hook.send_for_all_actions, "is_active": hook.is_active}
        if current != {**wanted, "actions": sorted(WEBHOOK_ACTIONS)}:
            ls.webhook_update(webhook_id=hook.id, url=settings.LABEL_STUDIO_WEBHOOK_URL, **wanted)
    else:
        hook = ls.webhook_create(project_id=project.id, url=settings.LABEL_STUDIO_WEBHOOK_URL, **wanted)

    if (campaign.ls_project_id, campaign.ls_webhook_id) != (project.id, hook.id):
        campaign.ls_project_id, campaign.ls_webhook_id = project.id, hook.id
        campaign.save(update_fields=["ls_project_id", "ls_webhook_id"])
    return campaign
