from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from backend.core.roles import Role


@transaction.atomic
def user_get_or_create_with_role(*, username: str, role: Role) -> "get_user_model()":
    """Return the user, creating it (without a usable password) and granting `role` if new."""
    User = get_user_model()
    user, created = User.objects.get_or_create(username=username)
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
        user.groups.add(Group.objects.get(name=role.group_name))
    return user
