"""Authentication backend: a user's permissions follow their role.

The permissions of the role's group (migration 0002_role_groups) count for every user of
that role, even one created by a path that did not join them to the group yet (a test
fixture, a bulk import before `sync_role_groups`). Group membership still adds the
permissions of any other group an administrator gives them.
"""

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission
from django.db.models import Q

from departments.services import role_group_name


class RoleModelBackend(ModelBackend):
    def _get_group_permissions(self, user_obj):
        condition = Q(group__user=user_obj)
        group_name = role_group_name(getattr(user_obj, "role", ""))
        if group_name:
            condition |= Q(group__name=group_name)
        return Permission.objects.filter(condition).distinct()
