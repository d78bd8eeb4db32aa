"""Role groups: a user's groups, staff flag and admin permissions follow their role."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from departments.models import User
from departments.services import sync_role_group, sync_role_groups
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


def role_groups_of(user):
    return set(user.groups.values_list("name", flat=True))


def test_the_migration_creates_one_group_per_role():
    assert set(Group.objects.values_list("name", flat=True)) >= set(User.Role.values)


def test_liaison_group_may_view_and_act_on_cases_but_not_delete_them():
    permissions = set(
        Group.objects.get(name="liaison").permissions.values_list("codename", flat=True)
    )
    assert {"view_case", "change_case", "view_caseevent"} <= permissions
    assert "delete_case" not in permissions
    assert "add_case" not in permissions


def test_sync_role_groups_joins_each_user_to_their_role_group_only(world):
    liaison = make_user("l1", User.Role.LIAISON, department=world.urban)
    dispatcher = make_user("d1", User.Role.DISPATCHER, township=world.north)
    liaison.groups.add(Group.objects.get(name="dispatcher"))
    extra = Group.objects.create(name="night shift")
    dispatcher.groups.add(extra)

    sync_role_groups(users=[liaison, dispatcher])

    assert role_groups_of(liaison) == {"liaison"}
    assert role_groups_of(dispatcher) == {"dispatcher", "night shift"}


def test_sync_role_groups_is_idempotent_and_set_based(world, django_assert_max_num_queries):
    users = [make_user(f"u{i}", User.Role.LIAISON, department=world.urban) for i in range(20)]
    with django_assert_max_num_queries(8):
        assert sync_role_groups(users=users) > 0
    with django_assert_max_num_queries(8):
        assert sync_role_groups(users=users) == 0


def test_sync_role_group_sets_staff_for_roles_that_work_in_the_admin(world):
    supervisor = make_user("sup", User.Role.SUPERVISOR, township=world.north)
    caseworker = make_user("cw", User.Role.CASEWORKER, township=world.north)
    User.objects.filter(pk=caseworker.pk).update(is_staff=True)
    caseworker.refresh_from_db()
    assert not supervisor.is_staff

    sync_role_group(supervisor)
    sync_role_group(caseworker)

    supervisor.refresh_from_db()
    caseworker.refresh_from_db()
    assert supervisor.is_staff
    assert not caseworker.is_staff


def test_a_liaisons_permissions_follow_the_role_even_before_joining_the_group(world):
    liaison = make_user("fresh", User.Role.LIAISON, department=world.urban)
    assert not liaison.groups.exists()
    assert liaison.has_perm("cases.view_case")
    assert not liaison.has_perm("departments.change_department")


def test_changing_a_users_role_in_the_admin_moves_them_to_the_new_role_group(client, cast, world):
    user = make_user("mover", User.Role.CASEWORKER, township=world.north)
    sync_role_group(user)
    client.force_login(cast.admin)
    response = client.post(
        reverse("admin:departments_user_change", args=[user.pk]),
        {
            "username": "mover",
            "full_name": "Mover",
            "email": "mover@example.org",
            "language": "zh-hans",
            "role": User.Role.LIAISON,
            "department": world.market.pk,
            "is_active": "on",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "09:00:00",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    user.refresh_from_db()
    assert user.role == User.Role.LIAISON
    assert role_groups_of(user) == {"liaison"}
    assert user.is_staff


def test_the_migrated_role_groups_hold_exactly_the_roles_permissions():
    from departments.services import ROLE_PERMISSIONS

    for role, expected in ROLE_PERMISSIONS.items():
        group = Group.objects.get(name=role)
        held = {
            f"{app}.{codename}"
            for app, codename in group.permissions.values_list(
                "content_type__app_label", "codename"
            )
        }
        assert held == set(expected), role


def test_a_role_keeps_its_permissions_even_without_the_role_groups(world):
    Group.objects.all().delete()
    liaison = make_user("orphan", User.Role.LIAISON, department=world.urban)
    assert liaison.has_perm("cases.change_case")
    sync_role_group(liaison)
    assert role_groups_of(liaison) == {"liaison"}


def test_admin_invites_selected_users_without_a_password_only(client, cast, world):
    from django.contrib.admin import helpers

    from cases.models import OutboxMessage

    newcomer = User.objects.create_user(
        username="newcomer",
        email="newcomer@example.org",
        role=User.Role.CASEWORKER,
        township=world.north,
        password=None,
    )
    client.force_login(cast.admin)
    client.post(
        reverse("admin:departments_user_changelist"),
        {
            "action": "invite_selected",
            helpers.ACTION_CHECKBOX_NAME: [newcomer.pk, cast.caseworker.pk],
        },
    )
    assert list(OutboxMessage.objects.filter(kind="invitation").values_list("to", flat=True)) == [
        "newcomer@example.org"
    ]
