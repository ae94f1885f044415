from django.db.models import QuerySet

from backend.jobs.models import Job


def job_list(*, kind: str | None = None, status: str | None = None, campaign_id: int | None = None) -> QuerySet[Job]:
    qs = Job.objects.select_related("created_by", "retry")
    if kind:
        qs = qs.filter(kind=kind)
    if status:
        qs = qs.filter(status=status)
    if campaign_id:
        qs = qs.filter(campaign_id=campaign_id)
    return qs
