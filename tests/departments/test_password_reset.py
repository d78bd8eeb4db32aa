"""Forgot your password? (/accounts/password/forgot/): a signed, single-use link to set a
new one, emailed through the outbox to the account's address; the page says the same
whoever was typed, and the link lives PASSWORD_RESET_TIMEOUT, not an invitation's week."""

import re
from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse

from cases.models import OutboxMessage
from cases.services.invitations import password_reset_request
from cases.services.outbox.sending import deliver
from departments.invitations import invitation_token, password_reset_token
from departments.models import User
from tests.cases.test_i18n import compiled_catalogue  # noqa: F401 (a fixture)
from tests.departments.test_invitations import invite_path, set_password

FORGOT = "/accounts/password/forgot/"
SENT = (
    "If an active account with an email address matches, a link to set a new password was"
    " sent to it."
)
NEW_PASSWORD = "Grid-governance-2026"


def ask(client, login, **headers):
    return client.post(FORGOT, {"login": login}, **headers)


def resets(**filters):
    return OutboxMessage.objects.filter(kind="password-reset", **filters)


def reset_path(message: OutboxMessage) -> str:
    return re.search(r"https?://[^/\s]+(/accounts/password/reset/\S+/)", message.text).group(1)


@pytest.fixture
def forgetful(cast):
    return cast.caseworker  # "caseworker", caseworker@example.org, pass-for-tests-1


def test_the_sign_in_page_links_to_it(client, db):
    assert reverse("password_forgot") == FORGOT
    page = client.get(reverse("login"))
    assert f'<a href="{FORGOT}">Forgot your password?</a>' in page.text
    # Django's admin sign-in page links to it too ("Forgotten your password or username?").
    assert f'href="{FORGOT}"' in client.get("/admin/login/").text


def test_the_page_asks_for_a_username_or_an_address(client, db):
    page = client.get(FORGOT)
    assert page.status_code == 200
    assert "Username or email address" in page.text
    assert 'maxlength="254"' in page.text
    assert page["Cache-Control"].startswith("max-age=0")


@pytest.mark.parametrize("login", ["caseworker", "nobody", "nobody@example.org"])
def test_the_answer_is_the_same_whether_an_account_matched_or_not(client, forgetful, login):
    response = ask(client, login)
    assert response.status_code == 200
    assert SENT in response.text
    assert "@" not in response.text.split("<main", 1)[1]  # no address, not even a part
    assert "caseworker@" not in response.text


def test_a_known_and_an_unknown_user_get_the_same_page(client, forgetful):
    def main(response):
        return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", response.text)

    assert main(ask(client, "caseworker")) == main(ask(client, "no-such-user"))


@pytest.mark.parametrize(
    "login", ["caseworker", "caseworker@example.org", "CaseWorker@Example.ORG"]
)
def test_one_email_for_a_match_by_username_or_address(
    client, forgetful, login, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        ask(client, login)
    (message,) = resets()
    assert message.to == "caseworker@example.org"
    assert message.status == OutboxMessage.Status.PENDING
    assert message.language == forgetful.language
    # The request wrote the row; its delivery is handed on after the commit.
    assert len(callbacks) == 1
    assert "/accounts/password/reset/" in message.text and "caseworker" in message.text
    assert "valid for 3 days, and only once" in message.text
    assert "/accounts/password/reset/" in message.html


def test_a_username_matches_exactly(client, forgetful):
    ask(client, "CASEWORKER")
    ask(client, "casework")
    assert not resets().exists()


def test_people_sharing_an_address_each_get_one(client, cast):
    User.objects.filter(pk=cast.dispatcher.pk).update(email="Caseworker@example.org")
    ask(client, "caseworker@example.org")
    assert sorted(resets().values_list("to", flat=True)) == [
        "Caseworker@example.org",
        "caseworker@example.org",
    ]
    assert len({reset_path(m) for m in resets()}) == 2


def test_nobody_inactive_without_an_address_or_unknown_gets_one(client, cast):
    User.objects.filter(pk=cast.caseworker.pk).update(is_active=False)
    User.objects.filter(pk=cast.dispatcher.pk).update(email="")
    for login in ["caseworker", "caseworker@example.org", "dispatcher", "", "nobody"]:
        ask(client, login)
    assert not OutboxMessage.objects.exists()


def test_a_second_request_within_15_minutes_writes_no_second_row(client, forgetful):
    with time_machine.travel("2026-11-05 09:14:00+08:00", tick=False):
        ask(client, "caseworker")
    # In the next quarter of an hour on the clock, but less than 15 minutes later.
    with time_machine.travel("2026-11-05 09:20:00+08:00", tick=False):
        assert SENT in ask(client, "caseworker@example.org").text
    assert resets().count() == 1
    with time_machine.travel("2026-11-05 09:29:30+08:00", tick=False):
        ask(client, "caseworker")
    assert resets().count() == 2


def test_an_overlong_entry_is_refused_and_sends_nothing(client, forgetful):
    response = ask(client, "caseworker" + "x" * 300)
    assert response.status_code == 200
    assert response.context["form"].errors["login"]
    assert SENT not in response.text
    assert not resets().exists()


def test_the_emailed_link_sets_a_new_password_once_and_signs_in(client, forgetful, mailoutbox):
    ask(client, "caseworker")
    (message,) = resets()
    assert deliver(message_pk=message.pk).outcome == "sent"
    (email,) = mailoutbox
    assert email.to == ["caseworker@example.org"]
    assert email.subject == "Your account for grid governance: set a new password"
    path = reset_path(message)
    page = client.get(path)
    assert page.status_code == 200
    assert "Set a new password" in page.text and "Welcome" not in page.text

    response = set_password(client, path, follow=True)
    assert response.redirect_chain[-1][0] == reverse("cases:list")
    assert "Your new password is set." in response.text
    assert int(client.session["_auth_user_id"]) == forgetful.pk
    forgetful.refresh_from_db()
    assert forgetful.check_password(NEW_PASSWORD)

    client.logout()
    again = set_password(client, path, "Another-password-2026")
    assert again.status_code == 410
    assert "already used" in again.text and f'href="{FORGOT}"' in again.text
    forgetful.refresh_from_db()
    assert forgetful.check_password(NEW_PASSWORD)


def test_a_locked_out_user_who_sets_a_new_password_can_sign_in_with_it(client, forgetful, settings):
    # The lockout page sends a locked-out user here: the new password must let them in,
    # not the lockout's cool-off.
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("login"), {"username": "caseworker", "password": "wrong-password"})
    locked = client.post(reverse("login"), {"username": "caseworker", "password": "x"})
    assert locked.status_code == 429 and f'href="{FORGOT}"' in locked.text

    path = reverse("password_reset_confirm", args=[password_reset_token(forgetful)])
    assert set_password(client, path).status_code == 302
    client.logout()
    signed_in = client.post(reverse("login"), {"username": "caseworker", "password": NEW_PASSWORD})
    assert signed_in.status_code == 302
    assert int(client.session["_auth_user_id"]) == forgetful.pk


def test_a_link_ends_when_its_user_signs_in_with_the_old_password(client, forgetful):
    path = reverse("password_reset_confirm", args=[password_reset_token(forgetful)])
    signed_in = client.post(
        reverse("login"), {"username": "caseworker", "password": "pass-for-tests-1"}
    )
    assert signed_in.status_code == 302
    client.logout()
    assert client.get(path).status_code == 410


def test_a_reset_link_expires_before_an_invitation_of_the_same_age(client, forgetful, invited):
    reset = reverse("password_reset_confirm", args=[password_reset_token(forgetful)])
    invitation = invite_path(invited)
    with time_machine.travel(timedelta(days=3, minutes=1)):
        expired = set_password(client, reset)
        assert expired.status_code == 410 and "has expired" in expired.text
        assert set_password(client, invitation).status_code == 302
    forgetful.refresh_from_db()
    assert forgetful.check_password("pass-for-tests-1")


def test_the_reset_link_lives_password_reset_timeout(client, forgetful, settings):
    settings.PASSWORD_RESET_TIMEOUT = 3600
    password_reset_request(login="caseworker")
    (message,) = resets()
    assert "valid for 1 hour, and only once" in message.text
    with time_machine.travel(timedelta(minutes=61)):
        assert client.get(reset_path(message)).status_code == 410


def test_an_invitation_is_no_reset_link_nor_the_other_way_round(client, forgetful, invited):
    as_reset = reverse("password_reset_confirm", args=[invitation_token(invited)])
    as_invitation = reverse("invitations:accept", args=[password_reset_token(forgetful)])
    assert set_password(client, as_reset).status_code == 400
    assert set_password(client, as_invitation).status_code == 400


def test_a_user_never_invited_to_completion_can_use_it_too(client, invited):
    """An invitation lost or expired: the person need not wait for an administrator."""
    ask(client, "invitee@example.org")
    (message,) = resets()
    assert set_password(client, reset_path(message)).status_code == 302
    invited.refresh_from_db()
    assert invited.check_password(NEW_PASSWORD)


def test_the_outbox_withholds_the_links_token(client, cast, forgetful):
    ask(client, "caseworker")
    (message,) = resets()
    client.force_login(cast.admin)
    page = client.get(reverse("admin:cases_outboxmessage_change", args=[message.pk])).text
    assert "/accounts/password/reset/…/" in page
    assert reset_path(message) not in page


@pytest.fixture
def invited(world):
    return User.objects.create_user(
        username="invitee",
        email="invitee@example.org",
        role=User.Role.CASEWORKER,
        township=world.north,
        password=None,
    )


def test_in_chinese(client, forgetful, compiled_catalogue):  # noqa: F811
    User.objects.filter(pk=forgetful.pk).update(language="zh-hans")
    login_page = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "忘记密码？" in login_page.text
    form = client.get(FORGOT, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "用户名或邮箱地址" in form.text and "Username" not in form.text
    sent = ask(client, "caseworker", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "设置新密码的链接已发送至该邮箱" in sent.text and "15 分钟" in sent.text
    (message,) = resets()
    assert message.language == "zh-hans"
    assert message.subject == "您的网格化治理账户：设置新密码"
    assert "有效期 3 天，仅可使用一次" in message.text and "valid for" not in message.text
    page = client.get(reset_path(message), HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "设置新密码" in page.text
    with time_machine.travel(timedelta(days=4)):
        expired = client.get(reset_path(message), HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "此设置新密码的链接已过期" in expired.text
