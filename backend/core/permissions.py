from rest_framework import serializers
from rest_framework.permissions import SAFE_METHODS, BasePermission

from backend.core.roles import Role, user_role


class HasRole(BasePermission):
    """Viewers read; annotators read and label; reviewers also review; only admins delete, export or change
    taxonomy.

    A view states what its writes need with `write_role` (default: admin) and, for the few reads that are not
    for everyone (an export's archive), what its reads need with `read_role` (default: viewer). DELETE always
    needs admin.
    """

    message = "Your role does not allow this action."

    def has_permission(self, request, view) -> bool:
        role = user_role(request.user)
        if role is None:
            if request.user and request.user.is_authenticated:
                self.message = "Your account has no Flawmap role (viewer, annotator, reviewer or admin)."
            return False
        if request.method in SAFE_METHODS:
            needed = getattr(view, "read_role", Role.VIEWER)
        elif request.method == "DELETE":
            needed = Role.ADMIN
        else:
            needed = getattr(view, "write_role", Role.ADMIN)
        if role < needed:
            self.message = f"Your role ({role.group_name}) does not allow this action; it needs {needed.group_name}."
            return False
        return True


class AdminOnlyFieldsMixin(serializers.Serializer):
    """An output serializer whose `admin_only_fields` are null unless the request's user is an admin: job
    tracebacks and logs or webhook payloads can hold paths, hostnames, secrets in error text and other people's
    labels. Needs the request in the serializer's context; without one the fields are withheld too."""

    admin_only_fields: tuple[str, ...] = ()

    def to_representation(self, instance):
        data = super().to_representation(instance)
        request = self.context.get("request")
        if user_role(getattr(request, "user", None)) != Role.ADMIN:
            for name in self.admin_only_fields:
                data[name] = None
        return data
