"""The four roles, as Django groups. Higher roles include the rights of lower ones: a reviewer is an annotator
who may also mark passes `reviewed` and replace anyone's pass; an admin may do everything."""

from enum import IntEnum


class Role(IntEnum):
    VIEWER = 1
    ANNOTATOR = 2
    REVIEWER = 3
    ADMIN = 4

    @property
    def group_name(self) -> str:
        return self.name.lower()


ROLE_BY_GROUP = {role.group_name: role for role in Role}


def user_role(user) -> Role | None:
    """Highest role of a user; superusers are admins. One query (cached on the user object)."""
    if not user or not user.is_authenticated:
        return None
    if user.is_superuser:
        return Role.ADMIN
    cached = getattr(user, "_flawmap_role", False)
    if cached is not False:
        return cached
    names = user.groups.values_list("name", flat=True)
    roles = [ROLE_BY_GROUP[n] for n in names if n in ROLE_BY_GROUP]
    user._flawmap_role = max(roles) if roles else None
    return user._flawmap_role
