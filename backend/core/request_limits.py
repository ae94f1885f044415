"""Request bodies are limited while they are read, never after: a body over its route's limit is answered 413
before a byte of it is spooled to memory or disk.

Each view may name the setting that limits its body (`request_body_limit = "REWARD_MAX_BYTES"` on the view
class); every other view gets FLAWMAP_MAX_JSON_BYTES. Two guards use that one limit:

- `RequestBodyLimitMiddleware` compares the declared Content-Length with it before the view runs (a multipart
  body may carry the limit in files plus FLAWMAP_MAX_JSON_BYTES of form fields and framing), refuses a body of
  unknown length (chunked: Django would not read it anyway, and the view would see an empty request), and turns
  the errors below into a 413 for views outside DRF too.
- `BodyLimitUploadHandler`, first in FILE_UPLOAD_HANDLERS, counts file bytes as the multipart parser hands them
  over and stops the upload past the limit, whatever the header said.

Django's own DATA_UPLOAD_MAX_MEMORY_SIZE (set from FLAWMAP_MAX_JSON_BYTES) bounds non-file data; its
RequestDataTooBig is a 413 as well (here and in backend/core/exceptions.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.files.uploadhandler import FileUploadHandler
from django.http import JsonResponse

from backend.core.exceptions import RequestTooLarge

DEFAULT_SETTING = "FLAWMAP_MAX_JSON_BYTES"


@dataclass(frozen=True)
class BodyLimit:
    setting: str  # the setting (and environment variable) that names it, for the message
    budget: int  # bytes: of the whole body, or of a multipart body's files

    def allowed(self, *, multipart: bool) -> int:
        return self.budget + (settings.FLAWMAP_MAX_JSON_BYTES if multipart else 0)

    def refusal(self, size: int, *, multipart: bool) -> str:
        if multipart and self.setting != DEFAULT_SETTING:
            return (f"request body is {size} bytes; this endpoint takes at most {self.budget} bytes of files "
                    f"({self.setting}) plus {settings.FLAWMAP_MAX_JSON_BYTES} of form fields ({DEFAULT_SETTING})")
        return f"request body is {size} bytes; this endpoint takes at most {self.allowed(multipart=multipart)} " \
               f"({self.setting})"


def body_limit_for(view_func) -> BodyLimit:
    """The limit the view declares (its class's `request_body_limit`, a setting name), else the JSON limit.
    Read at request time, so a changed setting applies at once."""
    view_class = getattr(view_func, "view_class", None) or getattr(view_func, "cls", None)
    setting = getattr(view_class, "request_body_limit", None) or DEFAULT_SETTING
    return BodyLimit(setting=setting, budget=int(getattr(settings, setting)))


def _too_large(message: str) -> JsonResponse:
    # No "Connection: close" here: WSGI forbids hop-by-hop headers from the application (wsgiref asserts);
    # gunicorn's sync workers close every connection after its response, leaving the rest unread.
    return JsonResponse({"detail": message}, status=413)


def _is_multipart(request) -> bool:
    return request.META.get("CONTENT_TYPE", "").lower().startswith("multipart/")


class RequestBodyLimitMiddleware:
    """Placed before any middleware that reads a body (CSRF reads request.POST of the views it protects)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        limit = body_limit_for(view_func)
        request.flawmap_body_limit = limit  # for BodyLimitUploadHandler
        declared = request.META.get("CONTENT_LENGTH")
        if not declared and request.META.get("HTTP_TRANSFER_ENCODING"):
            return JsonResponse({"detail": "send a Content-Length: a body of unknown length (chunked) is not read"},
                                status=411)
        try:
            size = int(declared or 0)
        except ValueError:
            return JsonResponse({"detail": f"Content-Length {declared!r} is not a number"}, status=400)
        multipart = _is_multipart(request)
        if size > limit.allowed(multipart=multipart):
            return _too_large(limit.refusal(size, multipart=multipart))
        return None

    def process_exception(self, request, exception):
        # DRF views answer these themselves (api_exception_handler); this covers the others (admin, dashboard).
        if isinstance(exception, RequestTooLarge):
            return _too_large(exception.message)
        if isinstance(exception, RequestDataTooBig):
            return _too_large(f"request body or form fields over {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes "
                              f"({DEFAULT_SETTING})")
        return None


class BodyLimitUploadHandler(FileUploadHandler):
    """Counts the bytes of all files in one multipart body as they arrive; past the route's limit it raises
    RequestTooLarge (413), so the handlers after it (memory, temporary file) never store the excess."""

    def __init__(self, request=None):
        super().__init__(request)
        self.limit = getattr(request, "flawmap_body_limit", None) or body_limit_for(None)
        self.received = 0

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > self.limit.budget:
            raise RequestTooLarge(f"uploaded files are over {self.limit.budget} bytes ({self.limit.setting}); "
                                  "the upload was stopped there")
        return raw_data

    def file_complete(self, file_size):
        return None  # the next handler builds the file
