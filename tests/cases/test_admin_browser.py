"""What a liaison and an administrator click in the admin, in Debian's headless Chromium
driven by Playwright."""

from decimal import Decimal

import pytest

from cases.models import Case, State
from cases.services import extensions, workflow
from departments.models import Department
from departments.services import sync_role_group
from tests.browser import TAP, boxes, needs_chromium, sign_in

pytest.importorskip("playwright.sync_api")

pytestmark = [needs_chromium, pytest.mark.xdist_group("admin-browser")]


@pytest.fixture
def open_as(browser, live_server):
    contexts, errors = [], []

    def _open(user, width=1280, touch=False, locale="en-GB"):
        # A touch screen's browser matches (pointer: coarse), as a phone's or a tablet's does.
        context = browser.new_context(
            locale=locale,
            viewport={"width": width, "height": 800},
            has_touch=touch,
            is_mobile=touch,
        )
        sign_in(context, live_server, user)
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        return page

    yield _open
    for context in contexts:
        context.close()
    assert errors == [], f"JavaScript errors: {errors}"


def test_liaison_accepts_and_resolves_a_case_with_the_admin_buttons(
    open_as, live_server, cast, report
):
    case = report(description="垃圾桶满溢")
    page = open_as(cast.liaison)
    page.goto(f"{live_server.url}/admin/cases/case/")
    page.click(f"text={case.number}")
    page.click("#act-accept input[type=submit]")
    page.wait_for_selector(".messagelist .success")
    case.refresh_from_db()
    assert case.state == State.IN_PROGRESS

    page.fill("#act-resolve textarea[name=note]", "已清运完毕")
    page.click("#act-resolve input[type=submit]")
    page.wait_for_selector(".messagelist .success")
    case.refresh_from_db()
    assert case.state == State.RESOLVED
    assert page.locator("#act-resolve").count() == 0


def test_every_column_of_a_liaisons_case_list_fits_a_1280_px_screen(
    open_as, live_server, cast, report, world
):
    report(description="垃圾桶满溢")
    report(category=world.stall, cell=world.n2, description="占道经营")
    page = open_as(cast.liaison)
    page.goto(f"{live_server.url}/admin/cases/case/")
    table = page.locator("#result_list")
    assert page.locator("#result_list th.column-time_left").is_visible()
    overflow = table.evaluate("t => t.scrollWidth - t.parentElement.clientWidth")
    assert overflow <= 0, f"the list is {overflow} px wider than its place"


def test_administrator_sees_a_grid_cell_on_its_map(open_as, live_server, cast, world):
    page = open_as(cast.admin)
    page.goto(f"{live_server.url}/admin/departments/gridcell/{world.n2.pk}/change/")
    page.wait_for_selector("#cell-map[data-ready='1']")
    assert page.locator("#cell-map path.leaflet-interactive").count() == 3


def test_a_flagged_figure_that_is_a_link_shows_red_like_its_department(
    open_as, live_server, cast, report, world
):
    """Supervision flags a department by one of its figures; most figures are links, which
    stayed in the admin's link colour, so which figure was far above the others was hidden."""
    report(description="垃圾桶满溢")  # the responsibility list gives it to CG
    for department in (world.market, world.market, world.housing, world.housing):
        case = report(category=world.stall, description="占道经营")
        workflow.case_dispatch(case=case, actor=cast.dispatcher, lead=department)
    for case in Case.objects.filter(lead_department=world.market):
        case = workflow.case_accept(case=case, actor=cast.other_liaison)
        extensions.extension_request(
            case=case, actor=cast.other_liaison, reason="需要协调物业", extra_days=Decimal(2)
        )
    page = open_as(cast.admin)
    page.goto(f"{live_server.url}/admin/cases/case/supervision/")
    flagged = page.locator("#department-SJ td.flag a")  # its extension requests, a link
    assert flagged.inner_text() == "2"
    red = page.locator("#department-SJ th").evaluate("e => getComputedStyle(e).color")
    assert flagged.evaluate("e => getComputedStyle(e).color") == red
    plain = page.locator("#department-ZJ td a").first
    assert plain.evaluate("e => getComputedStyle(e).color") != red


def test_a_liaison_switches_the_admin_to_chinese_and_stays_on_the_page(
    open_as, live_server, cast, report
):
    """Liaisons work in the admin: its pages switch language as the site's do."""
    case = report(description="垃圾桶满溢")
    page = open_as(cast.liaison)
    page.goto(f"{live_server.url}/admin/cases/case/{case.pk}/change/")
    assert page.locator("#logout-form button").inner_text().lower() == "log out"
    assert not page.locator("#user-tools .lang-switch button").is_visible()  # submits itself
    with page.expect_navigation():
        page.select_option("#user-tools select[name=language]", "zh-hans")
    assert page.url.endswith(f"/admin/cases/case/{case.pk}/change/")
    assert page.locator("#logout-form button").inner_text() == "注销"
    assert page.locator("html").get_attribute("lang") == "zh-hans"


@pytest.mark.parametrize("width", [390, 768])
def test_a_touch_screen_gets_finger_sized_links_and_checkboxes_in_the_admin(
    open_as, live_server, cast, report, width
):
    report(description="垃圾桶满溢")
    page = open_as(cast.liaison, width=width, touch=True)
    page.goto(f"{live_server.url}/admin/cases/case/")
    targets = (
        boxes(page, "#user-tools a")
        + boxes(page, "#logout-form button")  # Log out, 23×14 px before
        + boxes(page, ".breadcrumbs a")
        + boxes(page, "#changelist-filter li a")
        + boxes(page, "#result_list td a")
        + boxes(page, "#changelist-search input[type=submit]")
    )
    assert len(targets) > 6
    small = [box for box in targets if box[2] < TAP]
    assert small == [], small
    checkboxes = boxes(page, "#result_list input[type=checkbox]")
    assert checkboxes and all(w >= 22 and h >= 22 for _, w, h in checkboxes), checkboxes


def test_a_mouse_keeps_the_admins_dense_layout(open_as, live_server, cast, report):
    report(description="垃圾桶满溢")
    page = open_as(cast.liaison)
    page.goto(f"{live_server.url}/admin/cases/case/")
    assert all(h < 30 for _, _, h in boxes(page, "#user-tools a, #logout-form button"))
    assert all(h < 20 for _, _, h in boxes(page, "#result_list input[type=checkbox]"))


# How many lines an element's text takes: its text nodes' rectangles, one per line box.
LINES = """el => {
  const tops = new Set(), walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
  for (let node; (node = walker.nextNode()); ) {
    if (!node.textContent.trim()) continue;
    const range = document.createRange(); range.selectNodeContents(node);
    for (const r of range.getClientRects()) tops.add(Math.round(r.top));
  }
  return tops.size; }"""


@pytest.mark.parametrize("width", [390, 768])
def test_the_case_list_keeps_each_cell_on_one_line_and_scrolls_in_its_own_box(
    open_as, live_server, cast, report, world, width
):
    report(description="垃圾桶满溢")
    page = open_as(cast.liaison, width=width)
    page.goto(f"{live_server.url}/admin/cases/case/")
    row = page.locator("#result_list tbody tr").first
    for column in ("number", "category_name", "cell_name", "created_at", "time_left"):
        assert row.locator(f".field-{column}").evaluate(LINES) == 1, column
    # The page keeps the screen's width; the list scrolls sideways inside its box.
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    results = page.locator("#changelist-form .results")
    assert results.evaluate("r => r.scrollWidth > r.clientWidth")
    assert results.evaluate("r => getComputedStyle(r).overflowX") == "auto"


def test_a_phone_shows_the_case_lists_filters_before_its_fifty_rows(
    open_as, live_server, cast, report
):
    report(description="垃圾桶满溢")
    page = open_as(cast.liaison, width=390)
    page.goto(f"{live_server.url}/admin/cases/case/")
    panel = page.locator("#changelist-filter").bounding_box()
    assert panel["y"] < page.locator("#result_list").bounding_box()["y"]
    assert panel["height"] <= 0.5 * 800 + 1  # its own box, which scrolls; not a long page
    # ... as tall as that: Django's 200 px basis left two choices in view at a time.
    assert panel["height"] >= 0.4 * 800
    # A desktop keeps the filters beside the list.
    page = open_as(cast.liaison)
    page.goto(f"{live_server.url}/admin/cases/case/")
    panel = page.locator("#changelist-filter").bounding_box()
    table = page.locator("#result_list").bounding_box()
    assert panel["x"] >= table["x"] + table["width"]


def test_a_phone_shows_a_cases_timeline_a_date_on_one_line(open_as, live_server, cast, report):
    case = report(description="垃圾桶满溢")
    workflow.case_accept(case=case, actor=cast.liaison)
    page = open_as(cast.liaison, width=390)
    page.goto(f"{live_server.url}/admin/cases/case/{case.pk}/change/")
    timeline = page.locator("#events-group")
    dates = timeline.locator("td.field-at")
    assert dates.count() >= 2
    assert dates.evaluate_all(f"cells => cells.map({LINES})") == [1] * dates.count()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    table = timeline.locator("table")
    assert table.evaluate("t => t.scrollWidth > t.clientWidth")


@pytest.mark.parametrize("locale", ["en-GB", "zh-CN"])
def test_a_phone_shows_supervision_a_name_a_line_in_a_box_that_scrolls(
    open_as, live_server, cast, report, world, locale
):
    """Squeezed to a phone's screen, 区市场监督管理局 came out a character a line, and
    each heading a word or a character a line."""
    Department.objects.filter(pk=world.market.pk).update(name="区市场监督管理局")
    report(description="垃圾桶满溢")
    case = report(category=world.stall, description="占道经营")
    workflow.case_dispatch(case=case, actor=cast.dispatcher, lead=world.market)
    sync_role_group(cast.supervisor)  # staff, as a supervisor's account is
    page = open_as(cast.supervisor, width=360, touch=True, locale=locale)
    page.goto(f"{live_server.url}/admin/cases/case/supervision/")
    figures = page.locator(".supervision-figures")
    cells = figures.locator("thead th, tbody th")  # the headings, each department's name
    assert cells.count() == 9 + 3
    assert cells.evaluate_all(f"cells => cells.map({LINES})") == [1] * 12
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    assert figures.evaluate("t => t.scrollWidth > t.clientWidth")
    # Each figure is a link to its audit rows: "0" was a target 8 px wide.
    links = boxes(page, ".supervision-figures td a")
    assert links and all(w >= TAP and h >= TAP for _, w, h in links), links


def test_a_phone_shows_a_cases_extension_requests_within_the_screen(
    open_as, live_server, cast, report
):
    """The extension request's email links a supervisor to the case's admin page, whose
    table of requests took the page 560 px wide on a phone, and the decision's note
    a few pixels more."""
    case = workflow.case_accept(case=report(description="垃圾桶满溢"), actor=cast.liaison)
    extensions.extension_request(
        case=case,
        actor=cast.liaison,
        reason="需要协调物业，物业经理下周回来",
        extra_days=Decimal(2),
    )
    sync_role_group(cast.supervisor)
    page = open_as(cast.supervisor, width=360, touch=True)
    page.goto(f"{live_server.url}/admin/cases/case/{case.pk}/change/")
    requests = page.locator(".case-extensions table")
    assert requests.locator("tbody tr").count() == 1
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    assert requests.evaluate("t => t.scrollWidth > t.clientWidth")
    assert requests.locator("td").first.evaluate(LINES) == 1  # the date the request was made


SITE_NAME_LOOK = """() => { const name = document.querySelector('#site-name');
  const [s, a] = [name, name.querySelector('a')].map((e) => getComputedStyle(e));
  return [name.tagName, name.textContent.trim(), s.fontSize, s.fontWeight, a.color]; }"""


def test_the_admins_login_page_is_headed_by_the_site_name_looking_as_on_every_admin_page(
    browser, live_server, cast
):
    context = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 800})
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto(f"{live_server.url}/admin/login/")
    login = page.evaluate(SITE_NAME_LOOK)
    assert page.locator("h1").all_inner_texts() == ["Grid governance"]
    sign_in(context, live_server, cast.admin)
    page.goto(f"{live_server.url}/admin/")
    index = page.evaluate(SITE_NAME_LOOK)
    context.close()
    assert login[:2] == ["H1", "Grid governance"]
    assert login[2:] == index[2:]  # size, weight, colour


def test_an_administrator_enters_a_run_of_holidays_with_the_date_picker(open_as, live_server, cast):
    from datetime import timedelta

    from django.utils import timezone

    from departments.models import Holiday

    page = open_as(cast.admin)
    page.goto(f"{live_server.url}/admin/departments/holiday/")
    page.click("text=Add several days")
    # The admin's date shortcuts work here as on its own forms (their script and catalogue).
    page.click(".field-first .datetimeshortcuts a:first-child")
    today = timezone.localdate()
    assert page.input_value("#id_first") == today.isoformat()
    page.fill("#id_last", (today + timedelta(days=2)).isoformat())
    page.select_option("#id_kind", "holiday")
    page.fill("#id_name", "春节")
    page.click(".submit-row input[type=submit]")
    page.wait_for_selector(".messagelist .success")
    assert "Added 3 entries." in page.inner_text(".messagelist")
    assert list(Holiday.objects.order_by("date").values_list("date", "name")) == [
        (today + timedelta(days=n), "春节") for n in range(3)
    ]


def test_a_liaison_on_a_phone_acts_on_a_case_with_finger_sized_targets(
    open_as, live_server, cast, report
):
    case = report()
    page = open_as(cast.liaison, width=360, touch=True, locale="zh-CN")
    page.goto(f"{live_server.url}/admin/cases/case/{case.pk}/change/")
    # The link to the case page was 16 px high, the extension's working days 27 px.
    targets = (
        boxes(page, ".case-page-link a")
        + boxes(page, ".case-transitions input:not([type=hidden])")
        + boxes(page, ".case-transitions textarea")
    )
    assert len(targets) >= 5
    small = [box for box in targets if box[2] < TAP]
    assert small == [], small
    form = page.locator("#act-request-extension")
    form.locator("input[name=extra_days]").tap()
    page.keyboard.type("2")
    form.locator("textarea").tap()
    page.keyboard.type("需要协调施工队")
    with page.expect_navigation():
        form.locator("input[type=submit]").tap()
    assert case.extension_requests.count() == 1
