"""Adding and changing users in the admin: the same role rules as the users import, in
words on the fields, and an invitation for a new user who has no password yet."""

import pytest
from django.urls import reverse

from cases.models import OutboxMessage
from cases.services.outbox.sending import deliver
from departments.models import User
from departments.services import sync_role_group

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, cast):
    client.force_login(cast.admin)
    return client


def add_user(client, **fields):
    data = {
        "username": "newcomer",
        "usable_password": "false",
        "full_name": "新同事",
        "email": "newcomer@example.org",
        "language": "zh-hans",
        "role": "",
        "township": "",
        "department": "",
        **fields,
    }
    return client.post(reverse("admin:departments_user_add"), data, follow=True)


def form_errors(response) -> dict[str, list[str]]:
    return {
        name: list(errors) for name, errors in response.context["adminform"].form.errors.items()
    }


@pytest.mark.parametrize("role", [User.Role.CASEWORKER, User.Role.DISPATCHER])
def test_the_admin_refuses_township_staff_without_a_township(admin_client, role):
    response = add_user(admin_client, role=role)

    assert form_errors(response) == {"township": [f"a {role} needs a township."]}
    assert not User.objects.filter(username="newcomer").exists()


def test_the_admin_refuses_a_supervisor_without_an_email(admin_client, world):
    response = add_user(admin_client, role=User.Role.SUPERVISOR, email="")

    assert form_errors(response) == {
        "email": ["is required (invitations and escalations go there)."]
    }
    assert not User.objects.filter(username="newcomer").exists()


def test_the_admin_says_in_words_that_a_liaison_needs_a_department(admin_client, cast):
    liaison = cast.liaison
    response = admin_client.post(
        reverse("admin:departments_user_change", args=[liaison.pk]),
        {
            "username": liaison.username,
            "full_name": liaison.full_name,
            "email": liaison.email,
            "language": liaison.language,
            "role": User.Role.LIAISON,
            "department": "",
            "is_active": "on",
            "is_staff": "on",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "09:00:00",
        },
    )

    assert form_errors(response) == {"department": ["a liaison needs a department."]}
    assert "liaison_has_department" not in response.text
    liaison.refresh_from_db()
    assert liaison.department == cast.liaison.department


def test_the_admin_refuses_a_department_for_a_supervisor(admin_client, world):
    # Without a township, a supervisor sees every case in the district, whatever the
    # department says.
    response = add_user(admin_client, role=User.Role.SUPERVISOR, department=world.urban.pk)

    (message,) = form_errors(response)["department"]
    assert message.startswith("a supervisor has no department:")
    assert "every case in the district" in message
    assert not User.objects.filter(username="newcomer").exists()


def test_a_user_added_without_a_password_is_invited_after_the_commit(
    admin_client, world, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = add_user(admin_client, role=User.Role.CASEWORKER, township=world.north.pk)

    newcomer = User.objects.get(username="newcomer")
    assert not newcomer.has_usable_password()
    assert "An invitation to set a password was queued for newcomer@example.org." in (response.text)
    (message,) = OutboxMessage.objects.filter(kind="invitation")
    assert message.to == "newcomer@example.org"
    # Written with the user, handed to the workers only once the add has committed.
    assert callbacks and mailoutbox == []
    assert deliver(message_pk=message.pk).outcome == "sent"
    (sent,) = mailoutbox
    assert sent.to == ["newcomer@example.org"]
    assert "/accounts/invite/" in sent.body


def test_a_user_added_with_a_password_is_not_invited(admin_client, world):
    password = "Grid-governance-2026"
    response = add_user(
        admin_client,
        role=User.Role.CASEWORKER,
        township=world.north.pk,
        usable_password="true",
        password1=password,
        password2=password,
    )

    assert User.objects.get(username="newcomer").check_password(password)
    assert "invitation" not in response.text
    assert not OutboxMessage.objects.filter(kind="invitation").exists()


def change_user(client, user, **fields):
    data = {
        "username": user.username,
        "full_name": user.full_name,
        "email": user.email,
        "language": user.language,
        "role": user.role,
        "township": user.township_id or "",
        "department": user.department_id or "",
        "is_active": "on" if user.is_active else "",
        "is_staff": "on" if user.is_staff else "",
        "is_superuser": "on" if user.is_superuser else "",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "09:00:00",
        **fields,
    }
    return client.post(reverse("admin:departments_user_change", args=[user.pk]), data)


@pytest.mark.parametrize(
    "change",
    [{"is_active": ""}, {"is_superuser": "", "role": User.Role.SUPERVISOR}],
    ids=["deactivate", "demote"],
)
def test_an_administrator_cannot_take_away_their_own_rights_in_the_form(admin_client, cast, change):
    response = change_user(admin_client, cast.admin, **change)

    assert response.status_code == 200
    errors = response.context["adminform"].form.non_field_errors()
    assert "your own administrator rights" in " ".join(errors)
    cast.admin.refresh_from_db()
    assert cast.admin.is_active and cast.admin.is_superuser


def test_an_administrator_may_not_drop_the_last_superuser_status_even_keeping_the_role(
    admin_client, cast
):
    response = change_user(admin_client, cast.admin, is_superuser="")  # the role stays admin

    errors = " ".join(response.context["adminform"].form.non_field_errors())
    assert "last active superuser" in errors
    cast.admin.refresh_from_db()
    assert cast.admin.is_superuser


@pytest.fixture
def role_admin(world):
    """An administrator by role, not a superuser."""
    helper = User.objects.create_user(
        username="helper", email="helper@example.org", role=User.Role.ADMIN, is_staff=True
    )
    sync_role_group(helper)
    return helper


def test_the_last_active_superuser_keeps_the_status_in_the_form(admin_client, cast, role_admin):
    root = cast.admin
    User.objects.filter(pk=role_admin.pk).update(is_superuser=True)
    admin_client.force_login(role_admin)

    response = change_user(admin_client, root, is_superuser="", role=User.Role.SUPERVISOR)

    assert response.status_code == 302  # another superuser stays
    root.refresh_from_db()
    assert not root.is_superuser and root.role == User.Role.SUPERVISOR
    response = change_user(admin_client, role_admin, is_superuser="")
    assert "last active superuser" in " ".join(
        response.context["adminform"].form.non_field_errors()
    )


def test_an_administrator_who_is_no_superuser_cannot_make_one_or_take_over_accounts(
    client, cast, role_admin
):
    client.force_login(role_admin)
    change_user(client, role_admin, is_superuser="on", user_permissions=["1"])
    role_admin.refresh_from_db()
    assert not role_admin.is_superuser and not role_admin.user_permissions.exists()
    # A superuser's page is read-only to them, and nobody else's password is theirs to set.
    root = cast.admin
    assert change_user(client, root, full_name="改名").status_code == 403
    for user in (root, cast.caseworker):
        password = reverse("admin:auth_user_password_change", args=[user.pk])
        response = client.post(
            password, {"password1": "Take-over-2026", "password2": "Take-over-2026"}
        )
        assert response.status_code == 403
        user.refresh_from_db()
        assert not user.check_password("Take-over-2026")


def test_the_password_button_is_offered_only_to_whom_the_password_page_opens(
    client, cast, role_admin
):
    button = 'href="../password/"'
    client.force_login(role_admin)  # an administrator, not a superuser
    others = client.get(reverse("admin:departments_user_change", args=[cast.caseworker.pk]))
    assert others.status_code == 200
    assert button not in others.text
    assert "Only a superuser sets another person's password" in others.text
    own = client.get(reverse("admin:departments_user_change", args=[role_admin.pk]))
    assert button in own.text
    client.force_login(cast.admin)  # a superuser
    as_superuser = client.get(reverse("admin:departments_user_change", args=[cast.caseworker.pk]))
    assert button in as_superuser.text
