"""Invitations (SPEC §5): new users from users.csv get an email with a signed, expiring,
single-use link to set their password; no password is in any file or email."""

import re
import time
from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.urls import reverse

from cases.models import OutboxMessage
from cases.services.invitations import users_invite
from departments.invitations import invitation_token
from departments.models import User
from tests.departments.test_admin_users import change_user
from tests.smtp import hung_smtp_server, smtp_server

USERS_CSV = (
    "username,full_name,email,role,township_code,department_code\n"
    "newbie,新 同事,newbie@example.org,liaison,,CG\n"
    "grid7,网格员七,grid7@example.org,caseworker,N,\n"
)


@pytest.fixture
def users_file(tmp_path, world):
    path = tmp_path / "users.csv"
    path.write_text(USERS_CSV, encoding="utf-8")
    return path


def import_users(path):
    out = StringIO()
    call_command("import_users", str(path), stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.fixture
def invited(world):
    user = User.objects.create_user(
        username="invitee",
        email="invitee@example.org",
        role=User.Role.CASEWORKER,
        township=world.north,
        password=None,
    )
    return user


def invite_path(user):
    return reverse("invitations:accept", args=[invitation_token(user)])


def set_password(client, path, password="Grid-governance-2026", **headers):
    return client.post(path, {"new_password1": password, "new_password2": password}, **headers)


def test_import_users_sends_one_invitation_per_new_user(users_file, mailoutbox):
    output = import_users(users_file)
    messages = OutboxMessage.objects.filter(kind="invitation").order_by("to")
    assert [message.to for message in messages] == ["grid7@example.org", "newbie@example.org"]
    # Sent by the command itself, through the outbox: no worker needs to be running.
    assert (
        "invitations: sent 2, failed 0, left for a worker to retry 0, taken by a worker 0" in output
    )
    assert sorted(email.to[0] for email in mailoutbox) == [m.to for m in messages]
    assert {message.status for message in messages} == {OutboxMessage.Status.SENT}
    newbie = User.objects.get(username="newbie")
    assert not newbie.has_usable_password()
    body = messages.get(to="newbie@example.org").text
    assert "/accounts/invite/" in body
    assert "newbie" in body


@pytest.mark.parametrize(("language_code", "language"), [("en", "en"), ("zh-hans", "zh-hans")])
def test_imported_users_are_invited_in_the_sites_default_language(
    users_file, settings, language_code, language
):
    settings.LANGUAGE_CODE = language_code
    import_users(users_file)
    assert User.objects.get(username="newbie").language == language
    message = OutboxMessage.objects.get(kind="invitation", to="newbie@example.org")
    assert message.language == language


def test_importing_the_same_users_again_invites_nobody_again(users_file):
    import_users(users_file)
    output = import_users(users_file)
    assert OutboxMessage.objects.filter(kind="invitation").count() == 2
    assert "invitations: sent 0," in output


def test_a_failed_import_invites_nobody(tmp_path, world):
    path = tmp_path / "users.csv"
    path.write_text(USERS_CSV + "bad,坏,not-an-email,liaison,,CG\n", encoding="utf-8")
    with pytest.raises(Exception, match="nothing was imported"):
        import_users(path)
    assert not OutboxMessage.objects.filter(kind="invitation").exists()
    assert not User.objects.filter(username="newbie").exists()


def test_inviting_twice_sends_one_email(invited):
    users_invite(users=[invited])
    users_invite(users=[invited])
    assert OutboxMessage.objects.filter(kind="invitation", to=invited.email).count() == 1


def test_users_with_a_password_are_not_invited(cast):
    assert users_invite(users=[cast.caseworker]) == []


def test_valid_link_lets_the_user_set_a_password_and_sign_in(client, invited):
    path = invite_path(invited)
    page = client.get(path)
    assert page.status_code == 200
    assert "invitee" in page.text
    response = set_password(client, path)
    assert response.status_code == 302
    invited.refresh_from_db()
    assert invited.check_password("Grid-governance-2026")
    assert int(client.session["_auth_user_id"]) == invited.pk


def test_link_works_only_once(client, invited):
    path = invite_path(invited)
    set_password(client, path)
    client.logout()
    again = client.get(path)
    assert again.status_code == 410
    response = set_password(client, path, "Another-password-2026")
    assert response.status_code == 410
    invited.refresh_from_db()
    assert invited.check_password("Grid-governance-2026")


def test_expired_link_is_refused(client, invited):
    path = invite_path(invited)
    with time_machine.travel(timedelta(days=8)):
        response = set_password(client, path)
    assert response.status_code == 410
    invited.refresh_from_db()
    assert not invited.has_usable_password()


def test_tampered_link_is_refused(client, invited, cast):
    token = invitation_token(invited)
    forged = token.replace(token[-6:], "AAAAAA")
    response = set_password(client, reverse("invitations:accept", args=[forged]))
    assert response.status_code == 400
    invited.refresh_from_db()
    assert not invited.has_usable_password()


def test_link_for_a_deactivated_user_is_refused(client, invited):
    path = invite_path(invited)
    User.objects.filter(pk=invited.pk).update(is_active=False)
    assert client.get(path).status_code == 400


def test_a_link_sent_before_the_account_was_deactivated_stays_dead_once_reactivated(
    client, cast, invited
):
    path = invite_path(invited)
    client.force_login(cast.admin)
    assert change_user(client, invited, is_active="").status_code == 302
    invited.refresh_from_db()
    assert change_user(client, invited, is_active="on").status_code == 302
    client.logout()

    assert client.get(path).status_code == 410
    assert set_password(client, path).status_code == 410
    invited.refresh_from_db()
    assert invited.is_active and not invited.has_usable_password()
    # Invited again, the person gets a link that works.
    (message,) = users_invite(users=[invited], again=True)
    fresh = re.search(r"https?://[^/\s]+(/accounts/invite/\S+/)", message.text).group(1)
    assert set_password(client, fresh).status_code == 302


def test_a_weak_password_is_refused_and_the_link_still_works(client, invited):
    path = invite_path(invited)
    response = set_password(client, path, "123")
    assert response.status_code == 200
    assert response.context["form"].errors
    assert client.get(path).status_code == 200


def test_a_chinese_page_says_why_a_password_is_refused_in_chinese(client, invited):
    response = set_password(client, invite_path(invited), "Ab3$x", HTTP_ACCEPT_LANGUAGE="zh-hans")
    errors = " ".join(response.context["form"].errors["new_password2"])
    assert "密码长度太短" in errors and "8" in errors
    assert "too short" not in response.text


@pytest.fixture
def smtp(settings):
    yield from smtp_server(settings)


def test_an_imported_user_receives_the_invitation_by_smtp_and_signs_in_with_it(
    client, users_file, smtp
):
    import_users(users_file)
    received = next(m for m in smtp.messages if m["To"] == "newbie@example.org")
    assert received["To"] == "newbie@example.org"
    body = received.get_body(preferencelist=("plain",)).get_content()
    path = re.search(r"https?://[^/\s]+(/accounts/invite/\S+/)", body).group(1)
    assert set_password(client, path).status_code == 302
    assert User.objects.get(username="newbie").check_password("Grid-governance-2026")
    client.logout()
    assert client.get(path).status_code == 410


@pytest.mark.parametrize(
    ("role", "home"),
    [("liaison", "/admin/cases/case/"), ("supervisor", "/cases/"), ("caseworker", "/cases/")],
)
def test_a_new_password_lands_the_user_where_signing_in_would(client, world, role, home):
    user = User.objects.create_user(
        username=f"new_{role}",
        email=f"{role}@example.org",
        role=role,
        department=world.urban if role == "liaison" else None,
        township=world.north if role == "caseworker" else None,
        is_staff=role == "liaison",
        password=None,
    )
    assert set_password(client, invite_path(user))["Location"] == home


def invite_from_admin(client, user):
    from django.contrib.admin import helpers

    return client.post(
        reverse("admin:departments_user_changelist"),
        {"action": "invite_selected", helpers.ACTION_CHECKBOX_NAME: [user.pk]},
        follow=True,
    )


def test_admin_re_invite_of_an_unused_account_queues_a_fresh_email(client, cast, invited):
    client.force_login(cast.admin)
    with time_machine.travel("2026-11-05 09:00:00+08:00", tick=False):
        assert "Invitations queued: 1." in invite_from_admin(client, invited).text
    with time_machine.travel("2026-11-05 09:05:00+08:00", tick=False):
        assert "Invitations queued: 1." in invite_from_admin(client, invited).text
    texts = list(OutboxMessage.objects.filter(kind="invitation").values_list("text", flat=True))
    assert len(texts) == 2
    links = [re.search(r"/accounts/invite/\S+", text).group() for text in texts]
    assert links[0] != links[1]


def test_admin_re_invite_submitted_twice_in_a_moment_sends_one_and_says_so(client, cast, invited):
    client.force_login(cast.admin)
    with time_machine.travel("2026-11-05 09:00:00+08:00", tick=False):
        assert "Invitations queued: 1." in invite_from_admin(client, invited).text
        assert "Invitations queued: 0." in invite_from_admin(client, invited).text
    assert OutboxMessage.objects.filter(kind="invitation").count() == 1


def test_a_caseworker_changes_their_password_from_any_page(client, cast):
    """Caseworkers and dispatchers never see the admin, whose page is for staff."""
    client.force_login(cast.caseworker)
    page = client.get(reverse("cases:list"))
    assert 'href="/accounts/password/"' in page.text
    # Laid out as the sign-in form: each label above its box.
    assert '<form method="post" class="stacked narrow">' in client.get("/accounts/password/").text
    refused = client.post(
        "/accounts/password/",
        {
            "old_password": "wrong",
            "new_password1": "Grid-cell-42x",
            "new_password2": "Grid-cell-42x",
        },
    )
    assert refused.status_code == 200 and refused.context["form"].errors["old_password"]
    changed = client.post(
        "/accounts/password/",
        {
            "old_password": "pass-for-tests-1",
            "new_password1": "Grid-cell-42x",
            "new_password2": "Grid-cell-42x",
        },
        follow=True,
    )
    assert changed.redirect_chain[-1][0] == reverse("cases:list")
    assert "Your password was changed." in changed.text
    cast.caseworker.refresh_from_db()
    assert cast.caseworker.check_password("Grid-cell-42x")


@pytest.mark.parametrize("kept_as_fallback", [True, False])
def test_a_link_sent_before_a_key_rotation_works_while_the_old_key_is_a_fallback(
    client, invited, settings, kept_as_fallback
):
    """DJANGO_SECRET_KEY_FALLBACKS: rotating the key need not void a week of invitations."""
    old_key = settings.SECRET_KEY
    path = invite_path(invited)
    settings.SECRET_KEY = "a-new-key-" + "x" * 50
    settings.SECRET_KEY_FALLBACKS = [old_key] if kept_as_fallback else []
    assert client.get(path).status_code == (200 if kept_as_fallback else 400)


MANY_USERS_CSV = "username,full_name,email,role,township_code,department_code\n" + "".join(
    f"grid{n},网格员{n},grid{n}@example.org,caseworker,N,\n" for n in range(1, 7)
)


@pytest.fixture
def hung_mail_server(settings):
    yield from hung_smtp_server(settings, timeout=1)


def test_import_users_stops_sending_at_a_mail_server_that_does_not_answer(
    tmp_path, world, hung_mail_server, caplog
):
    """Six invitations, one EMAIL_TIMEOUT each, one after another, took a minute (a
    district's 1,200 took hours): the first silence stops the sending, the rest wait in
    the outbox for the worker and the sweep's re-queue, and the output says so."""
    path = tmp_path / "users.csv"
    path.write_text(MANY_USERS_CSV, encoding="utf-8")
    started = time.monotonic()
    with caplog.at_level("WARNING", logger="cases.services.outbox"):
        output = import_users(path)
    assert time.monotonic() - started < 4  # one timeout of 1 s, not six

    assert User.objects.filter(username__startswith="grid").count() == 6  # imported all
    assert "invitations: sent 0, failed 0, left for a worker to retry 1" in output
    assert "not tried as the mail server stopped answering 5" in output
    assert "The mail server could not be reached (SMTPServerDisconnected: " in output
    assert "6 emails are left in the outbox, queued for the worker" in output
    messages = OutboxMessage.objects.filter(kind="invitation")
    assert {m.status for m in messages} == {OutboxMessage.Status.PENDING}
    assert sorted(m.attempts for m in messages) == [0, 0, 0, 0, 0, 1]
    # The command retries nothing: its log does not promise a retry.
    (line,) = [r.getMessage() for r in caplog.records if "not sent (attempt 1)" in r.getMessage()]
    assert "left in the outbox; the worker's requeue sends it later" in line
    assert "retrying in" not in line


def test_import_users_says_how_far_its_sending_has_got(tmp_path, world, mailoutbox, monkeypatch):
    from cases.services.outbox import foreground

    monkeypatch.setattr(foreground, "PROGRESS_EVERY", 2)
    path = tmp_path / "users.csv"
    path.write_text(MANY_USERS_CSV, encoding="utf-8")
    err = StringIO()
    call_command("import_users", str(path), stdout=StringIO(), stderr=err)
    assert err.getvalue().splitlines() == [
        "… 2 emails sent",
        "… 4 emails sent",
        "… 6 emails sent",
    ]
    assert len(mailoutbox) == 6
