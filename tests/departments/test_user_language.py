"""A user's emails speak the language they use the site in: the one their browser asked
for when they signed in, or the one they switched to; LANGUAGE_CODE's until then."""

import pytest
from django.urls import reverse

from departments.models import User

PASSWORD = "pass-for-tests-1"

pytestmark = pytest.mark.django_db


def sign_in(client, username, path="/accounts/login/", **headers):
    response = client.post(path, {"username": username, "password": PASSWORD}, **headers)
    assert response.status_code == 302, response.content.decode()[:500]


def language_of(user) -> str:
    return User.objects.get(pk=user.pk).language


@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/"])
def test_signing_in_from_a_chinese_browser_makes_the_emails_chinese(client, cast, path):
    assert cast.supervisor.language == "en"  # LANGUAGE_CODE's
    cast.supervisor.is_staff = True
    cast.supervisor.save(update_fields=["is_staff"])
    sign_in(client, "supervisor", path, HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9,en;q=0.5")
    assert language_of(cast.supervisor) == "zh-hans"
    client.logout()
    sign_in(client, "supervisor", path, HTTP_ACCEPT_LANGUAGE="en-GB,en")
    assert language_of(cast.supervisor) == "en"


def test_a_client_that_asks_for_no_language_leaves_the_users_own(client, cast):
    User.objects.filter(pk=cast.caseworker.pk).update(language="zh-hans")
    sign_in(client, "caseworker")  # no Accept-Language, no language cookie
    assert language_of(cast.caseworker) == "zh-hans"


def test_the_language_switch_sets_the_signed_in_users_email_language(client, cast):
    client.force_login(cast.liaison)
    response = client.post(reverse("set_language"), {"language": "zh-hans", "next": "/cases/"})
    assert response.status_code == 302 and response["Location"] == "/cases/"
    assert language_of(cast.liaison) == "zh-hans"
    client.post(reverse("set_language"), {"language": "xx", "next": "/cases/"})
    assert language_of(cast.liaison) == "zh-hans"  # no such language: nothing changes
    client.post(reverse("set_language"), {"language": "en", "next": "/cases/"})
    assert language_of(cast.liaison) == "en"


def test_the_switch_still_works_signed_out(client):
    response = client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    assert response.status_code == 302
    assert client.cookies["django_language"].value == "zh-hans"
