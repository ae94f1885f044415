from django.contrib.contenttypes.models import ContentType
from django.db.models import QuerySet

from backend.core.exceptions import ApplicationError
from backend.jobs.models import Job


def job_list(*, kind: str | None = None, status: str | None = None, subject_type: str | None = None,
             subject_id: int | None = None) -> QuerySet[Job]:
    """`subject_type` is `app_label.model` (e.g. `annotator.campaign`)."""
    qs = Job.objects.select_related("created_by", "retry")
    if kind:
        qs = qs.filter(kind=kind)
    if status:
        qs = qs.filter(status=status)
    if subject_type:
        app_label, _, model = subject_type.partition(".")
        try:
            qs = qs.filter(subject_type=ContentType.objects.get_by_natural_key(app_label, model))
        except ContentType.DoesNotExist:
            raise ApplicationError(f"unknown subject_type {subject_type!r}: use app_label.model, "
                                   f"e.g. annotator.campaign") from None
    if subject_id:
        qs = qs.filter(subject_id=subject_id)
    return qs
