"""Services of the departments app: keeping people's access in line with their role.

A user's Django groups and staff flag follow their `role`: the role groups (created with
their permissions by migration 0002_role_groups) are named after the role values.
Importers and admin forms call `sync_role_groups` after they create or change users.
"""

from collections.abc import Iterable

from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import Q

from departments.models import User

Role = User.Role

# Roles that work in the Django admin: liaisons act on cases there, administrators keep
# the reference data, supervisors approve extensions and arbitrate returns.
STAFF_ROLES = frozenset({Role.LIAISON, Role.SUPERVISOR, Role.ADMIN})
ROLE_GROUP_NAMES = {role.value: role.value for role in Role}


# What each role may do in the admin. The role groups (migration 0002_role_groups) hold
# the same permissions for people to see and extend; the authentication backend grants
# these from the code, so a role works even where the groups were flushed or not made.
# What a liaison may *do* to a case is decided by the workflow services; `change_case`
# only opens the admin's buttons to them.
_REFERENCE = ("township", "gridcell", "department", "category", "responsibility", "holiday")
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    Role.CASEWORKER: frozenset(),
    Role.DISPATCHER: frozenset(),
    Role.LIAISON: frozenset(
        {
            "cases.view_case",
            "cases.change_case",
            "cases.view_caseevent",
            "cases.view_extensionrequest",
        }
    ),
    Role.SUPERVISOR: frozenset(
        {
            "cases.view_case",
            "cases.change_case",
            "cases.view_caseevent",
            "cases.view_extensionrequest",
        }
    ),
    Role.ADMIN: frozenset(
        {
            "cases.view_case",
            "cases.view_caseevent",
            "cases.view_extensionrequest",
            *(
                f"departments.{verb}_{model}"
                for model in _REFERENCE
                for verb in ("add", "change", "view")
            ),
            "departments.delete_responsibility",
            "departments.delete_holiday",
            "departments.view_calendarchange",
            "departments.add_user",
            "departments.change_user",
            "departments.view_user",
            "auth.view_group",
            # Open311 API keys and their request log (cases/migrations/0007).
            "cases.add_apikey",
            "cases.change_apikey",
            "cases.view_apikey",
            "cases.view_apirequest",
            # The email outbox, the escalations and the sweep runs, read-only; changing an
            # outbox row only opens its "Send again" action (cases/migrations/0022).
            "cases.view_outboxmessage",
            "cases.change_outboxmessage",
            "cases.view_escalation",
            "cases.view_sweeprun",
        }
    ),
}


def role_permissions(role: str) -> frozenset[str]:
    """The permissions ("app_label.codename") that `role` grants."""
    return ROLE_PERMISSIONS.get(role, frozenset())


def role_group_name(role: str) -> str | None:
    """The name of the group holding `role`'s permissions, or None for no role."""
    return ROLE_GROUP_NAMES.get(role)


@transaction.atomic
def sync_role_groups(*, users: Iterable[User]) -> int:
    """Make each user's role group membership and `is_staff` follow their role.

    Set-based: a fixed number of queries however many users. Users leave every other role
    group and join their own; groups that are not role groups are left alone. Superusers
    keep `is_staff`. Returns how many memberships and staff flags it changed (0: all in line).
    """
    users = [user for user in users if user.pk is not None]
    if not users:
        return 0
    ids = [user.pk for user in users]
    groups = {
        group.name: group.pk for group in Group.objects.filter(name__in=ROLE_GROUP_NAMES.values())
    }
    if len(groups) < len(ROLE_GROUP_NAMES):
        # Normally made by the migration; a flushed database (tests) loses them.
        Group.objects.bulk_create(
            [Group(name=name) for name in ROLE_GROUP_NAMES.values() if name not in groups],
            ignore_conflicts=True,
        )
        groups = {
            group.name: group.pk
            for group in Group.objects.filter(name__in=ROLE_GROUP_NAMES.values())
        }
    membership = User.groups.through
    role_group_ids = list(groups.values())

    current = set(
        membership.objects.filter(user_id__in=ids, group_id__in=role_group_ids).values_list(
            "user_id", "group_id"
        )
    )
    wanted = {
        (user.pk, groups[role_group_name(user.role)])
        for user in users
        if role_group_name(user.role) in groups
    }
    stale = current - wanted
    missing = wanted - current
    if stale:
        condition = Q()
        for user_id, group_id in stale:
            condition |= Q(user_id=user_id, group_id=group_id)
        membership.objects.filter(condition).delete()
    if missing:
        membership.objects.bulk_create(
            [membership(user_id=user_id, group_id=group_id) for user_id, group_id in missing],
            ignore_conflicts=True,
        )

    staff_ids = [user.pk for user in users if user.role in STAFF_ROLES or user.is_superuser]
    promoted = User.objects.filter(pk__in=staff_ids, is_staff=False).update(is_staff=True)
    demoted = (
        User.objects.filter(pk__in=ids, is_staff=True, is_superuser=False)
        .exclude(pk__in=staff_ids)
        .update(is_staff=False)
    )
    for user in users:
        user.is_staff = user.pk in staff_ids
    return len(stale) + len(missing) + promoted + demoted


def sync_role_group(user: User) -> None:
    """`sync_role_groups` for one user."""
    sync_role_groups(users=[user])
