from rest_framework.permissions import SAFE_METHODS, BasePermission

from backend.core.roles import Role, user_role


class HasRole(BasePermission):
    """Viewers read; annotators read and label; only admins delete, export or change taxonomy.

    A view states what its writes need with `write_role` (default: admin). DELETE always needs admin.
    """

    message = "Your role does not allow this action."

    def has_permission(self, request, view) -> bool:
        role = user_role(request.user)
        if role is None:
            if request.user and request.user.is_authenticated:
                self.message = "Your account has no Flawmap role (viewer, annotator or admin)."
            return False
        if request.method in SAFE_METHODS:
            return True
        if request.method == "DELETE":
            return role >= Role.ADMIN
        return role >= getattr(view, "write_role", Role.ADMIN)
