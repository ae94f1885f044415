from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import ProtectedError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler


class ApplicationError(Exception):
    """A domain error a service raises; the API turns it into a 400 (or the class's `status_code`) with the
    message."""

    status_code = 400

    def __init__(self, message: str, extra: dict | None = None):
        super().__init__(message)
        self.message = message
        self.extra = extra or {}


class RoleRefused(ApplicationError):
    """The user's role (or not owning the object) does not allow this write: 403 with the reason. Raised by
    services whose rule depends on the data (whose pass, whose job), beyond what HasRole checks per view."""

    status_code = 403


class RequestTooLarge(ApplicationError):
    """More bytes, images or pixels than one request may carry: 413 with the limit's name; split it."""

    status_code = 413


class ServiceUnavailable(ApplicationError):
    """A service Flawmap depends on (Label Studio, the broker) did not answer: 503, try again later."""

    status_code = 503


def api_exception_handler(exc, context):
    if isinstance(exc, RequestDataTooBig):  # Django's own limit (DATA_UPLOAD_MAX_MEMORY_SIZE): a 413, not a 400
        exc = RequestTooLarge(f"request body or form fields over {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes "
                              "(FLAWMAP_MAX_JSON_BYTES)")
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    if isinstance(exc, ApplicationError):
        if exc.status_code != status.HTTP_400_BAD_REQUEST:
            return Response({"detail": exc.message, **exc.extra}, status=exc.status_code)
        exc = exceptions.ValidationError({"detail": exc.message, **exc.extra})
    if isinstance(exc, ProtectedError):
        # e.g. deleting an image a dataset version still holds: versions are immutable.
        used_by = sorted({obj._meta.verbose_name for obj in exc.protected_objects})
        response = Response({"detail": f"still referenced by {', '.join(used_by)}; it can't be deleted"},
                            status=status.HTTP_409_CONFLICT)
        return response
    return exception_handler(exc, context)
