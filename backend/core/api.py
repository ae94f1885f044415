"""Small helpers the API views share."""

from django.conf import settings
from django.http import Http404, JsonResponse
from django.views.defaults import page_not_found
from rest_framework import serializers
from rest_framework.request import Request

from backend.core.exceptions import ApplicationError
from backend.core.pagination import DefaultPagination


def query_int(params, name: str, *, min_value: int = 1) -> int | None:
    """An integer query parameter, parsed by a DRF IntegerField: "²", "1e9" or an id past the database's range is
    a 400 naming the parameter (not a 500 from int() or the database); absent or empty is None."""
    raw = params.get(name)
    if raw in (None, ""):
        return None
    try:
        return serializers.IntegerField(min_value=min_value, max_value=2**63 - 1).run_validation(raw)
    except serializers.ValidationError as exc:
        raise ApplicationError(f"{name}: {' '.join(str(d) for d in exc.detail)}") from exc


def get_or_404(obj, what: str):
    if obj is None:
        raise Http404(f"{what} not found")
    return obj


def paginated_response(*, queryset, serializer_class, request: Request, view, paginator=None):
    paginator = paginator or DefaultPagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    serializer = serializer_class(page, many=True, context={"request": request})
    return paginator.get_paginated_response(serializer.data)


def upload_read(upload) -> bytes:
    """The bytes of an uploaded file, refusing one over FLAWMAP_MAX_UPLOAD_BYTES before reading it."""
    if upload.size > settings.FLAWMAP_MAX_UPLOAD_BYTES:
        raise ApplicationError(f"{upload.name}: file is {upload.size} bytes, over FLAWMAP_MAX_UPLOAD_BYTES")
    return upload.read()


def not_found(request, exception=None):
    """Django's 404 for a URL no route matches (e.g. /api/images/-1/: `<int:>` takes digits only): JSON like
    every other API error under /api/, Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "not found"}, status=404)
    return page_not_found(request, exception)
