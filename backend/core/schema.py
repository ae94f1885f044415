"""The OpenAPI schema's error answers: every operation lists the 4xx the framework itself gives it (bad input,
no or a bad token, a role that may not, an unknown id or page, a body too large, a throttle), so a client — and
the fuzz test, tests/security/test_api_fuzz.py — can tell a documented refusal from a broken endpoint. Errors a
view raises for its own reasons (a 503, a secret's 403) it declares itself with `extend_schema(responses=...)`."""

from drf_spectacular import openapi
from rest_framework import serializers
from rest_framework.permissions import AllowAny

from backend.core.pagination import DefaultPagination


class ErrorSerializer(serializers.Serializer):
    """What every refusal carries (backend.core.exceptions.api_exception_handler and DRF's own)."""

    detail = serializers.CharField()


# DRF's validation errors: {"field": ["message", ...], ...}, or {"detail": "..."} from an ApplicationError.
VALIDATION_ERROR = {"type": "object", "additionalProperties": {},
                    "description": "Field names (or `detail`, `non_field_errors`) mapped to what is wrong."}


class AutoSchema(openapi.AutoSchema):
    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        error = {"application/json": {"schema": self.resolve_serializer(ErrorSerializer, "response").ref}}
        responses = operation["responses"]
        for code, description, content in self._framework_errors(operation, error):
            responses.setdefault(code, {"description": description, "content": content})
        return operation

    def _get_paginator(self):
        # Our list views are APIViews that answer through backend.core.api.paginated_response (DefaultPagination),
        # so a list response is a page; a view that answers a plain list says `pagination_class = None`.
        pagination_class = getattr(self.view, "pagination_class", DefaultPagination)
        return pagination_class() if pagination_class else None

    def _framework_errors(self, operation: dict, error: dict):
        params = operation.get("parameters", [])
        query = {p["name"] for p in params if p["in"] == "query"}
        # Bad input; for a write also what a service refuses (an ApplicationError is a 400 with its message).
        if self.method != "GET" or operation.get("requestBody") or query:
            yield "400", "Invalid input, or refused", {"application/json": {"schema": VALIDATION_ERROR}}
        if self.view.get_authenticators() and not all(isinstance(p, AllowAny) for p in self.view.get_permissions()):
            yield "401", "No credentials, or a bad token", error
            yield "403", "The user's role does not allow this", error
        # DRF answers 404 for an unknown page and for an unknown `format` too.
        if any(p["in"] == "path" for p in params) or {"page", "format"} & query:
            yield "404", "No such object (or page, or format)", error
        if operation.get("requestBody"):
            yield "411", "A body of unknown length (chunked, no Content-Length) is not read", error
            yield "413", "Body over its limit (backend/core/request_limits.py)", error
        if self.method == "DELETE":
            yield "409", "Still referenced by something that keeps it (a ProtectedError)", error
        if self.view.get_throttles():
            yield "429", "Too many requests; retry after the Retry-After header's seconds", error
