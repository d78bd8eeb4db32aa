"""The page of a locked-out sign-in (django-axes, AXES_LOCKOUT_TEMPLATE): still a 429, in the
site's frame and the browser's language, saying how long to wait and leading back to the
sign-in page it came from, on both sign-in pages."""

from datetime import timedelta

import pytest

from tests.cases.test_i18n import compiled_catalogue  # noqa: F401 (a fixture)
from tests.test_security import LOGIN_URLS, fail_to_sign_in


def locked_out(client, settings, url, **headers):
    fail_to_sign_in(client, url, "admin", settings.AXES_FAILURE_LIMIT)
    return client.post(url, {"username": "admin", "password": "pass-for-tests-1"}, **headers)


@pytest.mark.django_db
@pytest.mark.parametrize("url", LOGIN_URLS)
def test_a_locked_out_sign_in_gets_a_page_saying_how_long_to_wait(client, cast, settings, url):
    response = locked_out(client, settings, url)
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    assert {"registration/locked_out.html", "base.html"} <= {t.name for t in response.templates}
    page = response.content.decode()
    assert '<header class="topbar">' in page
    assert "Please wait 15 minutes before trying again." in page
    assert f'<a href="{url}">Back to sign in</a>' in page


@pytest.mark.django_db
def test_the_way_back_keeps_where_the_user_was_going(client, cast, settings):
    response = locked_out(client, settings, "/accounts/login/?next=/dashboard/")
    assert response.status_code == 429
    assert '<a href="/accounts/login/?next=/dashboard/">' in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("cooloff", "words"),
    [
        (timedelta(hours=1), "Please wait 60 minutes before trying again."),
        (timedelta(minutes=1), "Please wait 1 minute before trying again."),
    ],
)
def test_the_wait_is_the_cooloff_time(client, cast, settings, cooloff, words):
    settings.AXES_COOLOFF_TIME = cooloff
    assert words in locked_out(client, settings, "/accounts/login/").content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("url", LOGIN_URLS)
def test_the_lockout_page_speaks_the_browsers_language(
    client,
    cast,
    settings,
    url,
    compiled_catalogue,  # noqa: F811
):
    response = locked_out(client, settings, url, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 429
    page = response.content.decode()
    assert '<html lang="zh-hans">' in page
    assert "网格化治理" in page  # the frame's "Grid governance"
    assert "Account locked: too many login attempts" not in page
