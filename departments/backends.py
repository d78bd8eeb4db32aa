"""Authentication backend: a user's permissions follow their role.

The permissions of the user's role (departments.services.ROLE_PERMISSIONS) count for every
user of that role, even one created by a path that did not join them to the role group
(a test fixture, a bulk import before `sync_role_groups`) and even where the role groups
were flushed. Group membership still adds the permissions of any other group an
administrator gives them.
"""

from django.contrib.auth.backends import ModelBackend

from departments.services import role_permissions


class RoleModelBackend(ModelBackend):
    def get_group_permissions(self, user_obj, obj=None):
        permissions = super().get_group_permissions(user_obj, obj)
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return permissions
        return {*permissions, *role_permissions(getattr(user_obj, "role", ""))}
