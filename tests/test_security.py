"""Security settings that must hold on every page: login throttling (django-axes) on both
sign-in pages, the Content-Security-Policy, the header and cookie flags, and our own
system checks, each of which must fire when its setting is broken."""

import pytest
from django.core.checks import run_checks
from django.test import RequestFactory, override_settings
from django.urls import reverse

from governance import checks
from governance.security import client_ip
from tests.cases.test_i18n import compiled_catalogue  # noqa: F401 (a fixture)

LOGIN_URLS = ["/accounts/login/", "/admin/login/"]


def fail_to_sign_in(client, url, username, times):
    for _ in range(times):
        response = client.post(url, {"username": username, "password": "wrong-password"})
        assert "_auth_user_id" not in client.session
    return response


@pytest.mark.django_db
@pytest.mark.parametrize("url", LOGIN_URLS)
def test_five_wrong_passwords_lock_the_right_one_out(client, cast, settings, url):
    fail_to_sign_in(client, url, "admin", settings.AXES_FAILURE_LIMIT)
    response = client.post(url, {"username": "admin", "password": "pass-for-tests-1"})
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_a_lockout_on_one_sign_in_page_holds_on_the_other(client, cast, settings):
    fail_to_sign_in(client, "/accounts/login/", "admin", settings.AXES_FAILURE_LIMIT)
    response = client.post("/admin/login/", {"username": "admin", "password": "pass-for-tests-1"})
    assert response.status_code == 429


@pytest.mark.django_db
def test_a_lockout_does_not_lock_out_another_user(client, cast, settings):
    fail_to_sign_in(client, "/accounts/login/", "admin", settings.AXES_FAILURE_LIMIT)
    response = client.post(
        "/accounts/login/", {"username": "caseworker", "password": "pass-for-tests-1"}
    )
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(cast.caseworker.pk)


@pytest.mark.django_db
def test_fewer_failures_than_the_limit_still_let_the_right_password_in(client, cast, settings):
    fail_to_sign_in(client, "/accounts/login/", "caseworker", settings.AXES_FAILURE_LIMIT - 1)
    response = client.post(
        "/accounts/login/", {"username": "caseworker", "password": "pass-for-tests-1"}
    )
    assert response.status_code == 302
    # A success resets the count: as many failures again do not lock out.
    client.logout()
    fail_to_sign_in(client, "/accounts/login/", "caseworker", settings.AXES_FAILURE_LIMIT - 1)
    assert (
        client.post(
            "/accounts/login/", {"username": "caseworker", "password": "pass-for-tests-1"}
        ).status_code
        == 302
    )


@pytest.mark.django_db
def test_the_test_clients_login_still_works_without_a_request(client, cast):
    # authenticate() without a request (test client, shell) is not throttled, not broken.
    assert client.login(username="caseworker", password="pass-for-tests-1")
    assert client.get(reverse("cases:list")).status_code == 200


def test_behind_a_trusted_proxy_the_forwarded_address_counts(settings):
    request = RequestFactory().get(
        "/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.7"
    )
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_ip(request) == "10.0.0.1"
    settings.TRUSTED_PROXY_COUNT = 1
    # The client may write anything left of what our proxy appended.
    assert client_ip(request) == "203.0.113.7"


def test_a_proxy_the_setting_does_not_count_is_told_of_once(settings, caplog, monkeypatch):
    """Behind a proxy TRUSTED_PROXY_COUNT leaves at 0, every client is the proxy to the
    throttle: the operator learns it from the log, once per process (a client may send the
    header itself, from any number of addresses)."""
    from governance import security

    monkeypatch.setattr(security, "_told_of_a_proxy", False)
    settings.TRUSTED_PROXY_COUNT = 0
    through_proxy = RequestFactory().get(
        "/", REMOTE_ADDR="10.0.0.9", HTTP_X_FORWARDED_FOR="203.0.113.7"
    )
    elsewhere = RequestFactory().get(
        "/", REMOTE_ADDR="10.0.0.10", HTTP_X_FORWARDED_FOR="203.0.113.8"
    )
    direct = RequestFactory().get("/", REMOTE_ADDR="198.51.100.1")
    with caplog.at_level("WARNING", logger="governance.security"):
        for request in (through_proxy, through_proxy, elsewhere, direct):
            client_ip(request)
    told = [record.getMessage() for record in caplog.records]
    assert len(told) == 1 and "TRUSTED_PROXY_COUNT" in told[0] and "10.0.0.9" in told[0]


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/accounts/login/", "/admin/login/", "/cases/"])
def test_every_page_carries_a_strict_content_security_policy(client, cast, url):
    client.force_login(cast.admin)
    response = client.get(url)
    policy = dict(
        part.strip().split(" ", 1)
        for part in response.headers["Content-Security-Policy"].split(";")
        if part.strip()
    )
    assert policy["default-src"] == "'self'"
    assert "unsafe" not in policy["script-src"]
    assert "unsafe" not in policy["style-src"]
    assert policy["object-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"


@pytest.mark.django_db
def test_pages_send_the_protective_headers(client, cast):
    client.force_login(cast.caseworker)
    response = client.get(reverse("cases:list"))
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"


@pytest.mark.django_db
def test_the_session_cookie_is_httponly_and_samesite(client, cast):
    client.post("/accounts/login/", {"username": "caseworker", "password": "pass-for-tests-1"})
    cookie = client.cookies["sessionid"]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"


def test_our_system_checks_pass_with_the_settings_as_shipped():
    assert [m for m in run_checks(tags=["security"]) if m.id.startswith("governance.")] == []


@pytest.mark.parametrize(
    ("override", "check", "code"),
    [
        ({"AUTH_PASSWORD_VALIDATORS": []}, checks.check_password_validators, "governance.E001"),
        ({"EMAIL_TIMEOUT": None}, checks.check_email_timeout, "governance.E002"),
        (
            {"CONTENT_SECURITY_POLICY": {}},
            checks.check_content_security_policy,
            "governance.E003",
        ),
        (
            {
                "CONTENT_SECURITY_POLICY": {
                    "DIRECTIVES": {"default-src": ["'self'"], "script-src": ["'unsafe-inline'"]}
                }
            },
            checks.check_content_security_policy,
            "governance.E004",
        ),
        ({"AXES_ENABLED": False}, checks.check_login_throttling, "governance.E005"),
        (
            {"AUTHENTICATION_BACKENDS": ["departments.backends.RoleModelBackend"]},
            checks.check_login_throttling,
            "governance.E005",
        ),
        ({"SITE_URL": "example.org"}, checks.check_site_url_host, "governance.E006"),
        (
            {"SITE_URL": "https://elsewhere.example", "ALLOWED_HOSTS": ["example.org"]},
            checks.check_site_url_host,
            "governance.E007",
        ),
        ({"SITE_URL": "http://example.org"}, checks.check_site_url_is_https, "governance.I008"),
    ],
)
def test_a_broken_security_setting_is_reported_by_its_check(override, check, code):
    with override_settings(**override):
        assert [message.id for message in check(None)] == [code]


def test_a_site_url_on_an_allowed_subdomain_passes():
    with override_settings(SITE_URL="https://grid.example.org", ALLOWED_HOSTS=[".example.org"]):
        assert checks.check_site_url_host(None) == []


@pytest.mark.django_db
@pytest.mark.usefixtures("compiled_catalogue")
def test_a_body_larger_than_the_limit_is_refused_before_it_is_read(client, settings):
    settings.REQUEST_MAX_BYTES = 1000
    body = b"x" * 1001
    response = client.generic(
        "POST", "/open311/v2/requests.json", body, content_type="application/octet-stream"
    )
    assert response.status_code == 413
    # An Open311 client reads the GeoReport error list, in the format it asked for.
    assert response.json() == [{"code": 413, "description": "The request is larger than 0 MB."}]
    as_xml = client.generic(
        "POST", "/open311/v2/requests.xml", body, content_type="application/octet-stream"
    )
    assert as_xml.status_code == 413 and b"<errors><error><code>413</code>" in as_xml.content
    # A person reads it in the browser's language.
    page = client.generic(
        "POST",
        "/cases/new/",
        body,
        content_type="application/octet-stream",
        headers={"accept-language": "zh-hans"},
    )
    assert page.status_code == 413 and "请求大于 0 MB" in page.content.decode()
    small = client.post("/open311/v2/requests.json", {"api_key": "nope"})
    assert small.status_code == 403  # under the limit, the request goes on as before


def test_a_report_with_as_many_photos_as_one_batch_takes_is_not_refused_for_its_size():
    # Six to ten pictures of 10 MB must reach the photo rule, which says what to leave out;
    # a bare 413 page would lose the typed report.
    from cases.services.photo_checks import MAX_PHOTO_BYTES, MAX_UPLOADS
    from governance.security import request_size_limit

    form_and_part_headers = 2**20
    length = MAX_UPLOADS * MAX_PHOTO_BYTES + form_and_part_headers
    request = RequestFactory().post("/cases/new/", CONTENT_LENGTH=str(length))
    passed_on = []
    response = request_size_limit(lambda request: passed_on.append(request) or "the view")(request)
    assert response == "the view" and passed_on == [request]


@pytest.mark.parametrize(
    ("debug", "backend", "told"),
    [
        (False, "django.core.mail.backends.console.EmailBackend", True),
        (False, "django.core.mail.backends.smtp.EmailBackend", False),
        (True, "django.core.mail.backends.console.EmailBackend", False),  # the demo
    ],
)
def test_a_production_worker_without_a_mail_server_says_so_as_it_starts(
    settings, caplog, debug, backend, told
):
    from governance.celery import tell_where_emails_go

    settings.DEBUG, settings.EMAIL_BACKEND = debug, backend
    with caplog.at_level("WARNING", logger="governance.celery"):
        tell_where_emails_go(sender=None)
    assert any("EMAIL_URL is not set" in r.getMessage() for r in caplog.records) is told
