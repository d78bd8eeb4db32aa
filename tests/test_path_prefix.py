"""A site served under a path prefix (SITE_URL https://…/gz, its proxy passing on the path
below it; README): every link, form, script, style sheet and redirect of its pages stays
under the prefix, and what the site decides by path (the Open311 API's own error bodies) it
decides on the path below the prefix. tests/test_procfile.py serves it with gunicorn."""

import re

import pytest
from django.test.utils import override_script_prefix, override_settings
from django.urls import reverse

from tests.processes import read_settings

pytestmark = pytest.mark.django_db

PREFIX = "/gz"


@pytest.fixture(autouse=True)
def served_under_the_prefix(tmp_path):
    """The settings SITE_URL with a path makes, in force for the test; as the WSGI handler
    does for each request, the script prefix that reverse() uses (the test client does
    not). The static files' storage is built again on the way in and out (STATIC_URL)."""
    made = read_settings(tmp_path, SITE_URL=f"https://example.org{PREFIX}")
    assert made["FORCE_SCRIPT_NAME"] == PREFIX
    under = {name: made[name] for name in ("SITE_URL", "FORCE_SCRIPT_NAME", "STATIC_URL")}
    with override_settings(**under), override_script_prefix(f"{PREFIX}/"):
        yield


# Every attribute that names a path of the site: links, forms, scripts and style sheets,
# and the pages' data attributes that their scripts fetch or follow.
SITE_PATH = re.compile(r'\s(?:href|src|action|formaction|data-[\w-]+)="(/[^"/][^"]*|/)"')


def paths_outside_the_prefix(page) -> list[str]:
    html = page.content.decode()
    # The admin's "View site" links to the prefix itself.
    return [
        path
        for path in SITE_PATH.findall(html)
        if path != PREFIX and not path.startswith(f"{PREFIX}/")
    ]


def test_the_sign_in_page_and_its_redirects_stay_under_the_prefix(client):
    first = client.get("/")
    assert first.status_code == 302 and first["Location"].startswith(f"{PREFIX}/cases/")
    to_sign_in = client.get("/cases/")
    assert to_sign_in.status_code == 302
    assert to_sign_in["Location"].startswith(f"{PREFIX}/accounts/login/")
    page = client.get("/accounts/login/")
    assert page.status_code == 200
    assert paths_outside_the_prefix(page) == []
    assert f'href="{PREFIX}/static/' in page.content.decode()


@pytest.mark.parametrize(
    ("user", "pages"),
    [
        ("caseworker", ["/cases/", "/cases/new/", "{case}", "/accounts/password/"]),
        ("dispatcher", ["/cases/fallback/", "{case}"]),
        ("supervisor", ["/dashboard/", "{case}"]),
        ("liaison", ["/admin/", "/admin/cases/case/", "{admin_case}"]),
        ("admin", ["/admin/", "/admin/departments/responsibility/"]),
    ],
)
def test_each_role_s_pages_link_only_under_the_prefix(client, cast, report, user, pages):
    case = report()
    client.force_login(getattr(cast, user))
    for path in pages:
        # Below the prefix, as the proxy passes the path on.
        path = path.format(
            case=reverse("cases:detail", args=[case.number]).removeprefix(PREFIX),
            admin_case=reverse("admin:cases_case_change", args=[case.pk]).removeprefix(PREFIX),
        )
        page = client.get(path)
        assert page.status_code == 200, path
        assert paths_outside_the_prefix(page) == [], path


def test_the_open311_api_refuses_a_body_too_large_in_its_own_format_under_the_prefix(
    client, settings
):
    # Decided before any view, on the path: an Open311 client reads the GeoReport error
    # list in the format it asked for, not the plain text a person gets.
    settings.REQUEST_MAX_BYTES = 1000
    refused = client.generic(
        "POST", "/open311/v2/requests.xml", b"x" * 1001, content_type="application/octet-stream"
    )
    assert refused.status_code == 413
    assert refused.content.startswith(b"<?xml") and b"<code>413</code>" in refused.content
