"""Accessibility of the pages people click, checked by axe-core in headless Chromium.

axe-core comes bundled with axe-playwright-python (pinned in pyproject.toml's test extra; no
network at test time) and is put into each page by Playwright, not by the page: the
Content-Security-Policy stays as strict as tests/test_csp_browser.py wants it. Each page is
checked against WCAG 2.0/2.1 A and AA and axe's best practices (headings, landmarks, empty
table headers...), as each user meets it: English on a desktop, Chinese on a 360 x 740
phone, where the markup and the layout differ. Error states are checked too: a form sent
back with its errors is where a screen reader most needs to be told what went wrong.
"""

from datetime import datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
import time_machine

from cases.models import Escalation
from cases.services import workflow
from cases.services.acknowledgement import ack_token
from cases.services.escalation import escalation_sweep
from departments.invitations import invitation_token
from tests.browser import needs_chromium, sign_in
from tests.cases.test_i18n import compiled_catalogue  # noqa: F401 (a fixture)
from tests.conftest import make_user

axe_playwright = pytest.importorskip("axe_playwright_python.sync_playwright")

pytestmark = [needs_chromium, pytest.mark.django_db(transaction=True)]

SHANGHAI = ZoneInfo("Asia/Shanghai")
DESKTOP = {"locale": "en-GB", "viewport": {"width": 1280, "height": 900}}
PHONE = {
    "locale": "zh-CN",
    "viewport": {"width": 360, "height": 740},
    "has_touch": True,
    "is_mobile": True,
}
AXE_OPTIONS = {
    "runOnly": {
        "type": "tag",
        "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"],
    },
    "resultTypes": ["violations"],
}

# What is deliberately left, by rule: the pages it is left on, and why. Nothing of ours.
LEFT_AS_IS = {
    # Django's admin/edit_inline/tabular.html heads the row-title column and the delete
    # column with empty <th>s (the case page's timeline and assisting departments inlines);
    # naming them means copying Django's whole template.
    "empty-table-header": ("/admin/",),
}

# References a screen reader follows but axe does not check: an aria-describedby or
# aria-labelledby naming an element that is not there says nothing (Django's fields point
# at `<id>_helptext` whether or not the template printed the help text with that id), and
# a field marked invalid must be described by the words saying what is wrong, and words
# saying a field is wrong must describe a field (outside the report form's summary, whose
# links lead to the fields).
BROKEN_REFERENCES = r"""() => {
  const problems = [];
  for (const el of document.querySelectorAll("[aria-describedby], [aria-labelledby]")) {
    for (const attr of ["aria-describedby", "aria-labelledby"]) {
      for (const id of (el.getAttribute(attr) || "").split(/\s+/).filter(Boolean)) {
        if (!document.getElementById(id)) problems.push(`${el.name || el.id}: ${attr} ${id}`);
      }
    }
  }
  for (const el of document.querySelectorAll("[aria-invalid=true]")) {
    const ids = (el.getAttribute("aria-describedby") || "").split(/\s+/).filter(Boolean);
    const said = ids.map((id) => document.getElementById(id))
      .filter((d) => d && d.textContent.trim());
    if (!said.length) problems.push(`${el.name || el.id}: invalid, with no error described`);
  }
  const described = new Set();
  for (const el of document.querySelectorAll("[aria-describedby]")) {
    for (const id of el.getAttribute("aria-describedby").split(/\s+/)) described.add(id);
  }
  for (const error of document.querySelectorAll("ul.errorlist:not(.nonfield), p.error")) {
    if (!error.closest(".error-summary") && !described.has(error.id)) {
      problems.push(`an error no field points at: ${error.textContent.trim().slice(0, 40)}`);
    }
  }
  return problems;
}"""


def violations_on(page, where: str) -> dict:
    """{rule id: [targets]} of what axe and our reference check find on `page`."""
    found = {}
    results = page.evaluate("options => axe.run(document, options)", AXE_OPTIONS)
    for violation in results["violations"]:
        if any(part in where for part in LEFT_AS_IS.get(violation["id"], ())):
            continue
        found[violation["id"]] = [" ".join(node["target"]) for node in violation["nodes"]]
    broken = page.evaluate(BROKEN_REFERENCES)
    if broken:
        found["broken-aria-reference"] = broken
    return found


def sent_back(page, button: str, error: str, **fields):
    """The form posted past the browser's own checks, and the page it comes back as."""
    page.evaluate("document.querySelectorAll('form').forEach(f => f.noValidate = true)")
    for name, value in fields.items():
        page.fill(f"[name={name}]", value)
    page.click(button)
    page.wait_for_selector(error)


def a_wrong_password(page):
    sent_back(page, "button.primary", "p.error", username="nobody", password="wrong")


def two_passwords(page):
    sent_back(
        page, "button.primary", ".errorlist", new_password1="a-Long-pass-1", new_password2="x"
    )


def an_empty_report(page):
    sent_back(page, "#report-submit", "#report-errors")


def a_reopen_without_a_reason(page):
    sent_back(page, "button[value=reopen]", ".errorlist")


def the_account_menu_opened(page):
    page.click(".account-toggle")
    page.wait_for_selector("#account-menu:popover-open")


@pytest.fixture
def cases_to_see(report, cast, world, disputed):
    """One case in each state a page shows differently, and an escalation to acknowledge."""
    with time_machine.travel(datetime(2026, 11, 23, 10, tzinfo=SHANGHAI), tick=False):
        overdue = report(description="逾期未签收的垃圾")
    escalation_sweep(now=datetime(2026, 11, 23, 12, tzinfo=SHANGHAI))
    resolved = report(description="已处理的垃圾")
    workflow.case_accept(case=resolved, actor=cast.liaison)
    workflow.case_resolve(case=resolved, actor=cast.liaison, note="已清理")
    in_progress = report(description="正在处理的垃圾")
    workflow.case_accept(case=in_progress, actor=cast.liaison)
    return SimpleNamespace(
        overdue=overdue,
        resolved=resolved,
        in_progress=in_progress,
        pooled=report(category=world.lamp, description="路灯不亮"),
        disputed=disputed,
        escalation=Escalation.objects.get(case=overdue, level=1),
    )


@pytest.mark.usefixtures("compiled_catalogue")
def test_the_pages_people_click_have_no_accessibility_violation(
    browser, live_server, cast, world, cases_to_see
):
    seen = cases_to_see
    ack = ack_token(escalation_pk=seen.escalation.pk, address="cg-boss@example.org")
    invited = make_user("invited", "caseworker", township=world.north)
    invited.set_unusable_password()
    invited.save()
    invitation = f"/accounts/invite/{invitation_token(invited)}/"
    both, desktop, phone = (DESKTOP, PHONE), (DESKTOP,), (PHONE,)
    # Who, where, what they do there first (if anything), in which layouts. A page whose
    # markup is the same in both is checked on the desktop only.
    visits = {
        None: [
            ("/accounts/login/", None, both),
            ("/accounts/login/", a_wrong_password, desktop),
            (f"/escalations/ack/{ack}/", None, desktop),
            (invitation, two_passwords, both),
        ],
        cast.caseworker: [
            ("/cases/new/", None, both),
            ("/cases/new/", an_empty_report, desktop),
            ("/cases/", None, desktop),
            ("/cases/", the_account_menu_opened, phone),
            (f"/cases/{seen.resolved.number}/", a_reopen_without_a_reason, both),
        ],
        cast.dispatcher: [
            ("/cases/fallback/", None, both),
            (f"/cases/{seen.pooled.number}/", None, desktop),  # dispatch, cancel, correct
        ],
        cast.supervisor: [
            ("/dashboard/", None, both),
            (f"/cases/{seen.disputed.number}/", None, desktop),  # arbitrate
        ],
        cast.liaison: [
            ("/admin/cases/case/", None, both),
            (f"/admin/cases/case/{seen.overdue.pk}/change/", None, both),  # accept, return
            (f"/admin/cases/case/{seen.in_progress.pk}/change/", None, desktop),  # resolve
        ],
    }
    axe_script = axe_playwright.Axe().axe_script
    found = {}
    for layout in (DESKTOP, PHONE):
        for user, pages in visits.items():
            context = browser.new_context(base_url=live_server.url, **layout)
            context.set_default_timeout(10_000)
            # By Playwright, in every page of the context: the page itself loads no axe.
            context.add_init_script(axe_script)
            if user is not None:
                sign_in(context, live_server, user)
            page = context.new_page()
            for path, act, layouts in pages:
                if layout not in layouts:
                    continue
                page.goto(path)
                where = f"{layout['locale']} {user or 'anonymous'} {path}"
                if act is not None:
                    act(page)
                    where += f" after {act.__name__.replace('_', ' ')}"
                found[where] = violations_on(page, where)
            context.close()
    failing = {where: rules for where, rules in found.items() if rules}
    assert failing == {}, "\n".join(
        f"{where}: {rule} {targets}"
        for where, rules in failing.items()
        for rule, targets in rules.items()
    )
