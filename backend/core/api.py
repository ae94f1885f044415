"""Small helpers the API views share."""

from django.conf import settings
from django.http import Http404
from rest_framework.request import Request

from backend.core.exceptions import ApplicationError
from backend.core.pagination import DefaultPagination


def get_or_404(obj, what: str):
    if obj is None:
        raise Http404(f"{what} not found")
    return obj


def paginated_response(*, queryset, serializer_class, request: Request, view):
    paginator = DefaultPagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    serializer = serializer_class(page, many=True, context={"request": request})
    return paginator.get_paginated_response(serializer.data)


def upload_read(upload) -> bytes:
    """The bytes of an uploaded file, refusing one over FLAWMAP_MAX_UPLOAD_BYTES before reading it."""
    if upload.size > settings.FLAWMAP_MAX_UPLOAD_BYTES:
        raise ApplicationError(f"{upload.name}: file is {upload.size} bytes, over FLAWMAP_MAX_UPLOAD_BYTES")
    return upload.read()
