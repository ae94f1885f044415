"""Small helpers the API views share."""

from django.http import Http404
from rest_framework.request import Request

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
