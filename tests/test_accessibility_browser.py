"""Accessibility of the pages people click, checked by axe-core in headless Chromium.

axe-core comes bundled with axe-playwright-python (pinned in pyproject.toml's test extra; no
network at test time) and is put into each page by Playwright, not by the page: the
Content-Security-Policy stays as strict as tests/test_csp_browser.py wants it. Each page is
checked against WCAG 2.0/2.1 A and AA and axe's best practices (headings, landmarks, empty
table headers...), as each user meets it: English on a desktop, Chinese on a 360 x 740
phone, where the markup and the layout differ. Error states are checked too: a form sent
back with its errors is where a screen reader most needs to be told what went wrong.

Then a keyboard alone: the report form and the pool's dispatch form, Tab by Tab.
"""

import re
from datetime import datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
import time_machine
from playwright.sync_api import expect

from cases.models import Case, Escalation, State
from cases.services import workflow
from cases.services.acknowledgement import ack_token
from cases.services.escalation import escalation_sweep
from departments.invitations import invitation_token, password_reset_token
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


def nobody_named(page):
    sent_back(page, "button.primary", ".errorlist")


def a_reset_link_asked_for(page):
    page.fill("[name=login]", "caseworker")
    page.click("button.primary")
    page.wait_for_selector("[role=status]")


def an_empty_report(page):
    sent_back(page, "#report-submit", "#report-errors")


def a_reopen_without_a_reason(page):
    sent_back(page, "button[value=reopen]", ".errorlist")


def a_run_of_days_backwards(page):
    sent_back(
        page, ".submit-row input[type=submit]", ".errorlist", first="2027-02-12", last="2027-02-08"
    )


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
    reset = f"/accounts/password/reset/{password_reset_token(cast.dispatcher)}/"
    both, desktop, phone = (DESKTOP, PHONE), (DESKTOP,), (PHONE,)
    # Who, where, what they do there first (if anything), in which layouts. A form sent back
    # with its errors is the form and more: checked instead of the form alone. The phone is
    # for the pages whose markup or layout differs there (and all in Chinese).
    visits = {
        None: [
            ("/accounts/login/", a_wrong_password, desktop),
            ("/admin/login/", None, both),
            (f"/escalations/ack/{ack}/", None, desktop),
            (invitation, two_passwords, desktop),
            ("/accounts/password/forgot/", nobody_named, both),
            ("/accounts/password/forgot/", a_reset_link_asked_for, desktop),
            (reset, two_passwords, desktop),
        ],
        cast.caseworker: [
            ("/cases/new/", an_empty_report, desktop),
            ("/cases/new/", None, phone),
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
        cast.admin: [
            ("/admin/departments/holiday/add-run/", a_run_of_days_backwards, desktop),
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


# --- A keyboard alone -------------------------------------------------------------------

FOCUSED = """() => { const e = document.activeElement;
  return e.id || e.getAttribute('name') || `${e.tagName.toLowerCase()} ${e.className}`.trim(); }"""


def tab_to(page, selector: str, most: int = 60) -> list[str]:
    """Press Tab until the focus is on `selector`; the stops passed on the way."""
    stops = []
    for _ in range(most):
        page.keyboard.press("Tab")
        if page.evaluate("selector => document.activeElement.matches(selector)", selector):
            return stops
        stops.append(page.evaluate(FOCUSED))
    raise AssertionError(f"Tab never reached {selector}: {stops}")


def contrast(rgb_a: str, rgb_b: str) -> float:
    """WCAG contrast ratio of two computed colours, "rgb(r, g, b)"."""

    def luminance(rgb):
        channels = [int(c) / 255 for c in rgb[rgb.index("(") + 1 : -1].split(",")[:3]]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    darker, lighter = sorted((luminance(rgb_a), luminance(rgb_b)))
    return (lighter + 0.05) / (darker + 0.05)


def keyboard_page(browser, live_server, user, layout=DESKTOP):
    context = browser.new_context(base_url=live_server.url, **layout)
    context.set_default_timeout(10_000)
    sign_in(context, live_server, user)
    return context, context.new_page()


def test_the_first_tab_skips_the_menu_and_the_focus_is_in_sight_on_the_bar(
    browser, live_server, cast, world
):
    context, page = keyboard_page(browser, live_server, cast.caseworker)
    page.goto("/cases/new/")
    page.keyboard.press("Tab")
    skip = page.locator(".skip-link")
    assert page.evaluate(FOCUSED) == "a skip-link"
    assert skip.bounding_box()["y"] >= 0  # shown while focused
    page.keyboard.press("Enter")
    assert page.evaluate(FOCUSED) == "main"
    page.keyboard.press("Tab")
    assert page.evaluate(FOCUSED) == "category-search"
    # The bar's links: a ring of at least 2 px that stands out from the navy (3:1, WCAG 1.4.11).
    page.locator(".topbar a.brand").focus()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")  # focused by the keyboard, as :focus-visible needs
    ring = page.evaluate(
        """() => { const s = getComputedStyle(document.activeElement);
        return [s.outlineStyle, parseFloat(s.outlineWidth), s.outlineColor,
                getComputedStyle(document.querySelector('.topbar')).backgroundColor]; }"""
    )
    context.close()
    style, width, colour, bar = ring
    assert style == "solid" and width >= 2, ring
    assert contrast(colour, bar) >= 3, ring


def test_a_keyboard_alone_reports_a_case_past_the_map(browser, live_server, cast, world):
    context, page = keyboard_page(browser, live_server, cast.caseworker)
    page.goto("/cases/new/")
    tab_to(page, "#category-search")
    page.keyboard.type("LAMP")
    page.keyboard.press("Enter")  # ends the search on the list it chose in
    assert page.evaluate(FOCUSED) == "id_category"
    # The map is one stop and its zoom buttons two: no stop for each cell (hundreds in a
    # township), none without a name, and Tab leaves it.
    past_the_map = tab_to(page, "#cell-search")
    assert past_the_map == ["cell-map", "a leaflet-control-zoom-in", "a leaflet-control-zoom-out"]
    page.keyboard.type("N-02")
    page.keyboard.press("Enter")
    # A screen reader on the map hears the cell chosen from the list: its description.
    expect(page.locator("#cell-map")).to_have_accessible_description(re.compile("N-02"))
    tab_to(page, "#id_description")
    page.keyboard.type("路灯不亮")
    tab_to(page, "#report-submit")
    page.keyboard.press("Enter")
    page.wait_for_selector("#routing")
    context.close()
    case = Case.objects.get()
    assert (case.category, case.cell, case.description) == (world.lamp, world.n2, "路灯不亮")


def test_a_keyboard_alone_dispatches_from_the_pool(browser, live_server, cast, world, report):
    first = report(category=world.lamp, description="路灯不亮")
    report(category=world.lamp, description="另一盏路灯不亮")
    context, page = keyboard_page(browser, live_server, cast.dispatcher)
    page.goto("/cases/fallback/")
    tab_to(page, "select[name=lead]")
    page.keyboard.press("ArrowDown")  # the first department
    lead = page.input_value("select[name=lead]")
    tab_to(page, "input[name=whistle]")
    page.keyboard.press("Space")
    tab_to(page, f"input[name=assisting]:not([value='{lead}'])")  # summoned by the whistle
    page.keyboard.press("Space")
    tab_to(page, f"#case-{first.number} button.dispatch-case")
    page.keyboard.press("Space")
    said = page.locator(".messages").inner_text()
    context.close()
    first.refresh_from_db()
    assert first.state == State.ASSIGNED and str(first.lead_department_id) == lead, said
    assert first.assists.filter(summoned=True).count() == 1


@pytest.mark.usefixtures("compiled_catalogue")
def test_on_a_phone_the_dashboards_map_leads_to_its_table_which_scrolls_by_keyboard(
    browser, live_server, cast, world, report
):
    report()
    context, page = keyboard_page(browser, live_server, cast.supervisor, PHONE)
    page.goto("/dashboard/")
    # A row's name heads its row for a screen reader and looks as the other cells do.
    name, figure = page.evaluate(
        """() => [...document.querySelectorAll('#by-cell tbody tr:first-child > *')]
        .slice(0, 2).map((cell) => [cell.tagName, getComputedStyle(cell).fontWeight])"""
    )
    assert (name[0], figure[0]) == ("TH", "TD") and name[1] == figure[1]
    dashboard_map = page.get_by_role("region", name="各网格未结及超期案件地图")
    expect(dashboard_map).to_have_accessible_description(re.compile("按网格列出的数字"))
    tab_to(page, "#dashboard-map")
    assert dashboard_map.evaluate("m => m === document.activeElement")
    # The map's numbers, for a keyboard or a screen reader: the table by grid cell.
    tab_to(page, "a[href='#by-cell']")
    page.keyboard.press("Enter")
    tab_to(page, "#by-cell table")
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    # Keyboard scrolling is smooth: it takes a moment.
    scrolled = page.wait_for_function(
        "() => document.querySelector('#by-cell table').scrollLeft", timeout=3_000
    ).json_value()
    context.close()
    assert scrolled > 0
