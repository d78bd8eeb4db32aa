"""The pages and the admin work under the Content-Security-Policy: headless Chromium
loads each one and no CSP violation is reported (no inline script or style, no resource
from another origin)."""

import pytest

from tests.browser import needs_chromium, sign_in

pytestmark = [needs_chromium, pytest.mark.django_db(transaction=True)]

# Reports CSP violations the console does not always show (e.g. inline style attributes).
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


def open_as(browser, live_server, user):
    context = browser.new_context(base_url=live_server.url)
    if user is not None:
        sign_in(context, live_server, user)
    context.add_init_script(RECORD_VIOLATIONS)
    return context


def visit(context, path) -> list[str]:
    """Load `path`, let its scripts run, and return every CSP complaint."""
    page = context.new_page()
    problems = []
    page.on(
        "console",
        lambda message: (
            problems.append(message.text)
            if message.type == "error"
            and ("Refused to" in message.text or "Content Security" in message.text)
            else None
        ),
    )
    page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    # A script or stylesheet that did not load would hide a violation: count it too.
    page.on(
        "response",
        lambda response: (
            problems.append(f"{response.status} {response.url}") if response.status >= 400 else None
        ),
    )
    response = page.goto(path, wait_until="networkidle")
    assert response is not None and response.status == 200, (
        f"{path}: {response and response.status}"
    )
    problems += page.evaluate("window.__csp")
    page.close()
    return problems


def test_the_pages_and_the_admin_load_without_a_csp_violation(browser, live_server, cast, report):
    case = report()
    anonymous = open_as(browser, live_server, None)
    assert visit(anonymous, "/accounts/login/") == []
    assert visit(anonymous, "/admin/login/") == []
    assert visit(anonymous, "/accounts/password/forgot/") == []

    admin = open_as(browser, live_server, cast.admin)
    pages = [
        "/cases/",
        "/cases/new/",
        f"/cases/{case.number}/",
        "/cases/fallback/",
        "/dashboard/",
        "/admin/",
        "/admin/cases/case/",
        f"/admin/cases/case/{case.pk}/change/",
        "/admin/departments/department/add/",
    ]
    complaints = {path: visit(admin, path) for path in pages}
    # Closed before the test ends, so no request is left running in the live server.
    anonymous.close()
    admin.close()
    assert {path: found for path, found in complaints.items() if found} == {}


def test_a_violation_would_be_noticed(browser, live_server, cast):
    # The detector itself: an inline script on a page of ours is refused and reported.
    context = open_as(browser, live_server, cast.admin)
    page = context.new_page()
    page.goto("/accounts/login/")
    page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'window.ran = 1'; document.body.appendChild(s); }"
    )
    page.wait_for_timeout(100)
    ran, violations = page.evaluate("window.ran"), page.evaluate("window.__csp")
    context.close()
    assert ran is None
    assert any("script-src" in v for v in violations)
