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


@transaction.atomic
def user_create_with_role(*, username: str, role: Role) -> "get_user_model()":
    """A new user (without a usable password) with `role`, never an existing one: when `username` is taken, the
    first free `username-2`, `username-3`, ... For accounts made from outside data (a Label Studio user), where
    getting an existing user by name would hand that user's identity to whoever picked the name."""
    User = get_user_model()
    base = username[:140]  # room for the suffix within the 150 characters of a username
    name, n = base, 1
    while User.objects.filter(username=name).exists():
        n += 1
        name = f"{base}-{n}"
    user = User(username=name)
    user.set_unusable_password()
    user.save()
    user.groups.add(Group.objects.get(name=role.group_name))
    return user
