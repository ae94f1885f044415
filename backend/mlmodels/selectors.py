from django.db.models import QuerySet

from backend.core.exceptions import ApplicationError
from backend.mlmodels.models import ModelVersion


def model_version_list(*, kind: str | None = None, status: str | None = None) -> QuerySet[ModelVersion]:
    qs = ModelVersion.objects.select_related("checkpoint")
    if kind:
        qs = qs.filter(kind=kind)
    if status:
        qs = qs.filter(status=status)
    return qs


def model_version_get(*, model_version_id: int) -> ModelVersion | None:
    return ModelVersion.objects.filter(pk=model_version_id).first()


def model_production_get(*, kind: str) -> ModelVersion | None:
    return ModelVersion.objects.select_related("checkpoint").filter(kind=kind, status="production").first()


def model_version_lookup(ref: str, *, kind: str | None = None) -> ModelVersion:
    """A model version by id or by NAME@VERSION (as the management commands take it)."""
    qs = ModelVersion.objects.all() if kind is None else ModelVersion.objects.filter(kind=kind)
    if ref.isascii() and ref.isdigit():  # "²".isdigit() is True, but int() refuses it
        found = qs.filter(pk=int(ref)).first()
    elif "@" in ref:
        name, version = ref.rsplit("@", 1)
        matches = list(qs.filter(name=name, version=version)[:2])
        if len(matches) > 1:
            raise ApplicationError(f"{ref} names several kinds of model; pass --kind")
        found = matches[0] if matches else None
    else:
        raise ApplicationError(f"model reference must be an id or NAME@VERSION, not {ref!r}")
    if found is None:
        raise ApplicationError(f"no model version {ref}")
    return found
