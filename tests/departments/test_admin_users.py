"""Adding and changing users in the admin: the same role rules as the users import, in
words on the fields, and an invitation for a new user who has no password yet."""

import pytest
from django.urls import reverse

from cases.models import OutboxMessage
from cases.services import outbox
from departments.models import User

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
    assert outbox.deliver(message_pk=message.pk).outcome == "sent"
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
