"""What a person clicks, in Debian's headless Chromium driven by Playwright: reporting on
the map (in English and in Chinese), a whistle dispatch, a verification with a rating, and
the dashboard. Few and fast; a failing test leaves a screenshot in test-artifacts/."""

import re
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.utils import translation
from PIL import Image

from cases.models import Case, State
from cases.services import workflow
from departments.models import GridCell, RoutingStamp
from tests.browser import TAP, boxes, needs_chromium, sign_in
from tests.cases.test_i18n import compiled_catalogue  # noqa: F401 (a fixture)

pytest.importorskip("playwright.sync_api")

ARTIFACTS = Path(django_settings.BASE_DIR) / "test-artifacts"

pytestmark = [needs_chromium, pytest.mark.xdist_group("browser")]


@pytest.fixture
def open_as(browser, live_server, request):
    """open_as(user, locale="en") → a page signed in as `user`; screenshots on failure."""
    contexts, errors = [], []
    failed_before = request.session.testsfailed

    def _open(user, locale="en-GB", width=1280, touch=False):
        # A touch screen's browser matches (pointer: coarse), as a phone's or a tablet's does.
        context = browser.new_context(
            locale=locale,
            viewport={"width": width, "height": 900},
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
    if request.session.testsfailed > failed_before:
        ARTIFACTS.mkdir(exist_ok=True)
        for n, context in enumerate(contexts):
            for m, page in enumerate(context.pages):
                page.screenshot(path=ARTIFACTS / f"{request.node.name}-{n}-{m}.png", full_page=True)
    for context in contexts:
        context.close()
    assert errors == [], f"JavaScript errors: {errors}"


def report_on_map(page, live_server, *, search: str, description: str):
    page.goto(f"{live_server.url}/cases/new/")
    page.fill("#category-search", search)
    cells = page.locator("#cell-map path.leaflet-interactive")
    assert cells.count() == 3  # the north township's cells, drawn from our own data
    cells.first.click()
    assert page.input_value("input[name=lat]") != ""
    page.fill("textarea[name=description]", description)
    page.click("#report-submit")
    page.wait_for_selector("#routing")


def test_the_sign_in_form_works_in_a_browser(browser, live_server, cast):
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{live_server.url}/cases/")
    page.fill("input[name=username]", "caseworker")
    page.fill("input[name=password]", "pass-for-tests-1")
    page.click("button[type=submit].primary")
    page.wait_for_url(re.compile(r".*/cases/$"))
    assert page.locator("h1").inner_text() == "Cases"
    context.close()


def test_a_forgotten_password_is_set_anew_from_the_emailed_link(browser, live_server, cast):
    from cases.models import OutboxMessage

    context = browser.new_context()
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.click("text=Forgot your password?")
    page.fill("input[name=login]", "caseworker@example.org")
    page.click("button[type=submit].primary")
    expect_sent = "a link to set a new password was sent to it"
    assert expect_sent in page.locator("[role=status]").inner_text()
    message = OutboxMessage.objects.get(kind="password-reset")
    link = re.search(r"https?://[^/\s]+(/accounts/password/reset/\S+/)", message.text).group(1)
    page.goto(f"{live_server.url}{link}")
    assert page.locator("h1").inner_text() == "Set a new password"
    page.fill("input[name=new_password1]", "Grid-governance-2026")
    page.fill("input[name=new_password2]", "Grid-governance-2026")
    page.click("button[type=submit].primary")
    page.wait_for_url(re.compile(r".*/cases/$"))
    assert "Your new password is set." in page.locator(".messages").inner_text()
    context.close()
    cast.caseworker.refresh_from_db()
    assert cast.caseworker.check_password("Grid-governance-2026")


def test_caseworker_reports_a_case_by_clicking_a_cell_on_the_map(open_as, live_server, cast, world):
    page = open_as(cast.caseworker)
    report_on_map(page, live_server, search="ENV-RUBBISH", description="路边堆放垃圾")
    case = Case.objects.get()
    assert case.cell == world.n1 and case.category == world.rubbish and case.lat is not None
    routing = page.locator("#routing").inner_text()
    assert world.urban.name in routing
    assert "权责清单 1" in routing


def test_a_cell_name_with_markup_shows_as_text_in_the_map_tooltip(
    open_as, live_server, cast, world
):
    GridCell.objects.update(name="<b>粗体</b> 东网格")
    RoutingStamp.bump()  # the cells' drawing is cached until the grid changes
    page = open_as(cast.caseworker)
    page.goto(f"{live_server.url}/cases/new/")
    page.locator("#cell-map path.leaflet-interactive").first.hover()
    tooltip = page.locator(".leaflet-tooltip")
    tooltip.wait_for()
    assert tooltip.inner_text().startswith("<b>粗体</b> 东网格")
    assert tooltip.locator("b").count() == 0


def test_a_cell_code_with_markup_shows_as_text_in_the_admins_map_tooltip(
    open_as, live_server, cast, world
):
    # The admin's cell form takes any code; the import's pattern does not hold there.
    GridCell.objects.filter(pk=world.n2.pk).update(code="<b>N-02</b>")
    page = open_as(cast.admin)
    page.goto(f"{live_server.url}/admin/departments/gridcell/{world.n1.pk}/change/")
    page.locator("#cell-map[data-ready]").wait_for()
    page.locator("#cell-map path.leaflet-interactive").first.hover()  # a neighbour
    tooltip = page.locator(".leaflet-tooltip")
    tooltip.wait_for()
    assert tooltip.inner_text() == "<b>N-02</b>"
    assert tooltip.locator("b").count() == 0


def test_a_point_outside_every_cell_reports_the_case_from_the_point(
    open_as, live_server, cast, world
):
    page = open_as(cast.caseworker)
    page.goto(f"{live_server.url}/cases/new/")
    page.locator("#cell-map path.leaflet-interactive").first.click()  # a cell first
    map_box = page.locator("#cell-map").bounding_box()
    # The three cells lie in a row across the map's middle: its top edge is outside them.
    page.mouse.click(map_box["x"] + map_box["width"] / 2, map_box["y"] + 12)
    assert page.input_value("select[name=cell]") == ""
    assert page.input_value("input[name=lat]") != ""
    assert "Outside every cell" in page.locator("#picked-point").inner_text()
    page.fill("#category-search", "ENV-RUBBISH")
    page.fill("textarea[name=description]", "河边有人倾倒建筑垃圾")
    page.click("#report-submit")
    page.wait_for_selector("#routing")
    case = Case.objects.get()
    assert case.cell is None and case.lat is not None
    assert case.fallback_reason == "outside_grid" and case.township == world.north


def test_locate_from_the_point_keeps_the_point_picked_on_the_map(open_as, live_server, cast, world):
    page = open_as(cast.caseworker)
    page.goto(f"{live_server.url}/cases/new/")
    page.locator("#cell-map path.leaflet-interactive").first.click()
    point = page.input_value("input[name=lat]")
    page.select_option("select[name=cell]", "")
    assert page.input_value("input[name=lat]") == point != ""
    page.select_option("select[name=cell]", str(world.n2.pk))  # a cell from the list instead
    assert page.input_value("input[name=lat]") == ""
    assert world.n2.name in page.locator("#picked-point").inner_text()


def test_a_form_sent_back_with_an_error_shows_the_cell_and_point_chosen(
    open_as, live_server, cast, world
):
    page = open_as(cast.caseworker)
    page.goto(f"{live_server.url}/cases/new/")
    page.locator("#cell-map path.leaflet-interactive").first.click()
    point = page.input_value("input[name=lat]"), page.input_value("input[name=lng]")
    chosen = page.locator("#picked-point").inner_text()
    page.fill("textarea[name=description]", "   ")  # passes the browser, not the server
    page.click("#report-submit")
    page.wait_for_selector(".errorlist")
    assert not Case.objects.exists()
    assert page.input_value("select[name=cell]") == str(world.n1.pk)
    assert (page.input_value("input[name=lat]"), page.input_value("input[name=lng]")) == point
    # The map shows that cell chosen, and the hint the cell and point, not the prompt.
    highlighted = page.locator('#cell-map path.leaflet-interactive[stroke="#b3261e"]')
    assert highlighted.count() == 1
    assert page.locator("#picked-point").inner_text() == chosen
    assert world.n1.code in chosen and point[0] in chosen


@pytest.mark.parametrize("search", ["#category-search", "#cell-search"])
def test_enter_in_a_search_box_searches_and_does_not_send_the_report(
    open_as, live_server, cast, world, search
):
    """A phone keyboard's "search" key is Enter: it sent a half-filled report."""
    page = open_as(cast.caseworker)
    page.goto(f"{live_server.url}/cases/new/")
    page.fill("textarea[name=description]", "路灯不亮")
    page.select_option("select[name=cell]", str(world.n1.pk))  # enough for a report
    page.fill(search, world.n2.code if search == "#cell-search" else "路灯")
    # Enter ending a Chinese input method's composition is left to the input method.
    taken = page.evaluate(
        """(box) => { const e = new KeyboardEvent('keydown',
             {key: 'Enter', isComposing: true, cancelable: true, bubbles: true});
           document.querySelector(box).dispatchEvent(e); return e.defaultPrevented; }""",
        search,
    )
    assert taken is False
    page.press(search, "Enter")
    page.wait_for_timeout(300)  # a submission would have started by now
    assert page.url == f"{live_server.url}/cases/new/"
    assert not Case.objects.exists()
    assert page.input_value("textarea[name=description]") == "路灯不亮"


def test_a_phone_shows_the_reports_errors_first_and_each_leads_to_its_field(
    open_as, live_server, cast, world
):
    page = open_as(cast.caseworker, width=390)
    page.goto(f"{live_server.url}/cases/new/")
    page.fill("textarea[name=description]", "路灯不亮")
    page.click("#report-submit")  # no cell chosen
    summary = page.locator("#report-errors")
    summary.wait_for()
    assert not Case.objects.exists()
    assert page.evaluate("document.activeElement.id") == "report-errors"
    assert summary.bounding_box()["y"] < 900  # in the first screen
    assert "Choose a grid cell" in summary.inner_text()
    summary.locator("a", has_text="Grid cell").click()
    assert page.url.endswith("#id_cell")


def test_photos_attached_before_the_duplicate_screen_reach_the_case_reported_anyway(
    open_as, live_server, cast, world, report, tmp_path, settings
):
    settings.MEDIA_ROOT = tmp_path / "media"
    report()  # an open case of the same category in the same cell
    photo = tmp_path / "rubbish.png"
    Image.new("RGB", (40, 30), (200, 30, 30)).save(photo)
    page = open_as(cast.caseworker)
    page.goto(f"{live_server.url}/cases/new/")
    page.select_option("select[name=category]", str(world.rubbish.pk))
    page.select_option("select[name=cell]", str(world.n1.pk))
    page.fill("textarea[name=description]", "又有人倒垃圾")
    page.set_input_files("#report-form input[name=photos]", str(photo))
    page.click("#report-submit")

    page.wait_for_selector("#duplicates")
    assert "kept for this report" in page.locator("#photos-kept").inner_text()
    page.click("#report-anyway")

    page.wait_for_selector("#routing")
    case = Case.objects.latest("pk")
    assert case.description == "又有人倒垃圾" and case.photos.count() == 1


def test_the_same_report_flow_in_chinese(open_as, live_server, cast, world, compiled_catalogue):  # noqa: F811
    page = open_as(cast.caseworker, locale="zh-CN")
    page.goto(f"{live_server.url}/cases/new/")
    assert page.locator("h1").inner_text() == "上报案件"
    report_on_map(page, live_server, search="占道", description="占道经营")
    routing = page.locator("#routing").inner_text()
    assert "案件去向及原因" in routing
    assert "多个部门都有职责" in routing  # overlap: the candidates are listed
    assert world.urban.name in routing and world.market.name in routing
    assert Case.objects.get().state == State.FALLBACK


def test_the_category_search_says_when_no_category_matches(open_as, live_server, cast, world):
    page = open_as(cast.caseworker)
    page.goto(f"{live_server.url}/cases/new/")
    hint = page.locator("#category-no-match")
    assert hint.inner_text() == ""
    page.fill("#category-search", "no such thing")
    assert "No category matches" in hint.inner_text()
    assert "Not sure (the township decides)" in hint.inner_text()
    page.fill("#category-search", "占道")
    assert hint.inner_text() == ""
    assert page.input_value("select[name=category]") == str(world.stall.pk)


def test_dispatcher_dispatches_a_fallback_case_with_a_whistle(
    open_as, live_server, cast, world, report
):
    case = report(category=world.lamp)  # no rule → the pool
    page = open_as(cast.dispatcher)
    other = report(category=None)  # a second pooled case, which must stay in the pool
    page.goto(f"{live_server.url}/cases/fallback/")
    # One dispatch form for the page; the case is chosen by pressing its row's button.
    form = page.locator("#pool-dispatch")
    button = page.locator(f"#case-{case.number} button.dispatch-case")
    assert button.inner_text() == "Dispatch"
    form.locator("select[name=lead]").select_option(str(world.urban.pk))
    # Far below the form on a phone, each case's button says where it sends the case.
    assert button.inner_text() == f"Dispatch to {world.urban}"
    form.locator("input[name=whistle]").check()
    form.locator(f"input[name=assisting][value='{world.market.pk}']").check()
    form.locator(f"input[name=assisting][value='{world.housing.pk}']").check()
    button.click()
    page.wait_for_selector(".message.success")
    # Back where the dispatcher was: at the case after the one dispatched, with the word
    # that it was done beside it, and the same lead chosen for the next.
    assert page.url == (
        f"{live_server.url}/cases/fallback/?lead={world.urban.pk}#case-{other.number}"
    )
    assert (
        page.evaluate("document.querySelector('.messages').nextElementSibling.id")
        == f"case-{other.number}"
    )
    assert page.locator(f"#case-{other.number} button.dispatch-case").inner_text() == (
        f"Dispatch to {world.urban}"
    )
    assert page.locator(f"#case-{case.number}").count() == 0
    assert page.locator(f"#case-{other.number}").count() == 1
    other.refresh_from_db()
    assert other.state == State.FALLBACK
    case.refresh_from_db()
    assert case.state == State.ASSIGNED and case.lead_department == world.urban
    summoned = case.assists.filter(summoned=True, report_due_at__isnull=False)
    assert set(summoned.values_list("department__code", flat=True)) == {"SJ", "ZJ"}
    page.goto(f"{live_server.url}/cases/{case.number}/")
    assert page.locator("ul.assists li").count() == 2
    assert "summoned by whistle" in page.locator("ul.assists").inner_text()


def test_the_pools_button_for_a_case_returned_twice_names_the_lead_of_the_arbitration(
    open_as, live_server, cast, world, report, disputed
):
    """Each button names the lead it sends its case to: for a case waiting for a
    supervisor, as the arbitration it is, not as "Dispatch to …"."""
    pooled = report(category=None)
    page = open_as(cast.supervisor)
    page.goto(f"{live_server.url}/cases/fallback/")
    arbitrate = page.locator(f"#case-{disputed.number} button.dispatch-case")
    dispatch = page.locator(f"#case-{pooled.number} button.dispatch-case")
    assert (arbitrate.inner_text(), dispatch.inner_text()) == ("Arbitrate", "Dispatch")
    page.locator("#pool-dispatch select[name=lead]").select_option(str(world.housing.pk))
    assert arbitrate.inner_text() == f"Arbitrate: {world.housing} leads"
    assert dispatch.inner_text() == f"Dispatch to {world.housing}"


def test_dispatcher_dispatches_from_the_pool_with_the_assisting_departments_ticked_in_its_row(
    open_as, live_server, cast, world, report
):
    from departments.models import Responsibility

    Responsibility.objects.create(category=world.lamp, department=world.housing, role="assist")
    Responsibility.objects.create(category=world.lamp, department=world.market, role="assist")
    case, other = report(category=world.lamp), report(category=world.lamp)
    page = open_as(cast.dispatcher)
    page.goto(f"{live_server.url}/cases/fallback/")
    row = page.locator(f"#case-{case.number} .listed-assisting")
    assert row.locator("input:checked").count() == 2  # ticked in advance
    row.locator(f"input[value='{world.market.pk}']").uncheck()
    page.locator(f"#case-{other.number} .listed-assisting input").first.uncheck()
    page.locator("#pool-dispatch select[name=lead]").select_option(str(world.urban.pk))
    page.locator(f"#case-{case.number} button.dispatch-case").click()
    page.wait_for_selector(".message.success")
    case.refresh_from_db()
    assert case.state == State.ASSIGNED and case.lead_department == world.urban
    assert list(case.assists.values_list("department__code", flat=True)) == ["ZJ"]
    other.refresh_from_db()
    assert other.state == State.FALLBACK and not other.assists.exists()


def test_a_department_chosen_to_lead_is_unticked_as_assisting_on_both_pages(
    open_as, live_server, cast, world, report
):
    from departments.models import Responsibility

    Responsibility.objects.create(category=world.lamp, department=world.housing, role="assist")
    case = report(category=world.lamp)
    page = open_as(cast.dispatcher)
    page.goto(f"{live_server.url}/cases/fallback/")
    box = page.locator(f"#case-{case.number} .listed-assisting input[value='{world.housing.pk}']")
    assert box.is_checked()
    page.locator("#pool-dispatch select[name=lead]").select_option(str(world.housing.pk))
    assert not box.is_checked()
    page.goto(f"{live_server.url}/cases/{case.number}/")
    box = page.locator(
        f"form.transition-dispatch input[name=assisting][value='{world.housing.pk}']"
    )
    assert box.is_checked()
    page.locator("form.transition-dispatch select[name=lead]").select_option(str(world.housing.pk))
    assert not box.is_checked()


def test_enter_in_a_checkbox_of_the_pool_dispatches_no_case(
    open_as, live_server, cast, world, report
):
    """A keyboard user ticks the whistle and the departments with Space, and may press
    Enter there too: that dispatched the first case of the page, which nobody chose."""
    from departments.models import Responsibility

    Responsibility.objects.create(category=world.lamp, department=world.housing, role="assist")
    oldest, listed = report(category=None), report(category=world.lamp)
    page = open_as(cast.dispatcher)
    page.goto(f"{live_server.url}/cases/fallback/")
    page.locator("#pool-dispatch select[name=lead]").select_option(str(world.urban.pk))
    for box in (
        "#pool-dispatch input[name=whistle]",
        f"#pool-dispatch input[name=assisting][value='{world.market.pk}']",
        f"#case-{listed.number} .listed-assisting input",
    ):
        page.focus(box)
        page.keyboard.press("Space")
        page.keyboard.press("Enter")
    page.wait_for_timeout(500)  # a submission would have left by now
    assert page.url == f"{live_server.url}/cases/fallback/"
    oldest.refresh_from_db()
    listed.refresh_from_db()
    assert (oldest.state, listed.state) == (State.FALLBACK, State.FALLBACK)
    # What was ticked stays ticked, ready for the button the dispatcher does press.
    assert page.locator("#pool-dispatch input[name=whistle]").is_checked()
    assert not page.locator(f"#case-{listed.number} .listed-assisting input").is_checked()
    page.locator(f"#case-{oldest.number} button.dispatch-case").press("Enter")
    page.wait_for_selector(".message.success")
    oldest.refresh_from_db()
    assert oldest.state == State.ASSIGNED and oldest.lead_department == world.urban


def test_dispatcher_goes_from_the_pool_to_the_case_page_and_picks_a_candidate(
    open_as, live_server, cast, world, report
):
    case = report(category=world.stall, cell=world.n2)  # two lead rules: overlap
    page = open_as(cast.dispatcher)
    page.goto(f"{live_server.url}/cases/fallback/")
    page.locator(f"#case-{case.number} h2 a").click()
    page.wait_for_url(f"{live_server.url}/cases/{case.number}/#dispatch")
    area = page.locator("#dispatch")
    assert "several departments" in area.locator(".fallback-reason").inner_text()
    # The quick picks are the candidates, by code; base.js shows them.
    picks = area.locator("button.quick-pick")
    assert picks.all_inner_texts() == [world.urban.name, world.market.name]
    picks.nth(1).click()
    assert area.locator("select[name=lead]").input_value() == str(world.market.pk)
    area.locator("button[type=submit][value=dispatch]").click()
    page.wait_for_selector(".message.success")
    case.refresh_from_db()
    assert case.state == State.ASSIGNED and case.lead_department == world.market


def test_caseworker_verifies_a_resolved_case_with_a_rating(open_as, live_server, cast, report):
    case = report()
    workflow.case_accept(case=case, actor=cast.liaison)
    workflow.case_resolve(case=case, actor=cast.liaison, note="已清理")
    page = open_as(cast.caseworker)
    page.goto(f"{live_server.url}/cases/{case.number}/")
    form = page.locator("form.transition-verify")
    form.locator("select[name=satisfaction]").select_option("4")
    form.locator("textarea[name=comment]").fill("现场已干净")
    form.locator("button[type=submit]").click()
    page.wait_for_selector(".message.success")
    case.refresh_from_db()
    assert case.state == State.CLOSED and case.satisfaction == 4
    assert "现场已干净" in page.locator(".timeline").inner_text()


def test_the_dashboard_map_tooltip_says_what_the_page_wrote_for_the_cell(
    open_as, live_server, cast, world, report
):
    report()
    page = open_as(cast.supervisor)
    page.goto(f"{live_server.url}/dashboard/")
    page.locator("#dashboard-map path.leaflet-interactive").first.hover()
    tooltip = page.locator(".leaflet-tooltip")
    tooltip.wait_for()
    cells = page.evaluate("JSON.parse(document.getElementById('cells-data').textContent)")
    assert tooltip.inner_text() in [f["properties"]["tooltip"] for f in cells["features"]]
    assert tooltip.inner_text().endswith(": open 1, overdue 0")


def test_supervisor_opens_the_dashboard(open_as, live_server, cast, world, report):
    report()
    report(category=None)
    page = open_as(cast.supervisor)
    page.goto(f"{live_server.url}/dashboard/")
    assert page.locator("#kpi-total").inner_text() == "2"
    assert page.locator("#dashboard-map path.leaflet-interactive").count() == 3
    # Chart.js sized and drew its canvas: the vendored library loaded and ran.
    page.wait_for_function("document.getElementById('rates-chart').width > 0")
    assert page.evaluate("typeof window.Chart") == "function"
    # The 1–5 rating has a scale of its own, not the case counts' (it would lie flat at 0).
    axes = page.evaluate(
        "Object.fromEntries(Chart.getChart('rates-chart').data.datasets"
        ".map((d, i) => [Object.keys(JSON.parse("
        "document.getElementById('chart-data').textContent).series)[i], d.yAxisID]))"
    )
    assert (axes["satisfaction"], axes["total"]) == ("y3", "y2")


def test_long_unbroken_text_and_wide_tables_keep_to_a_phones_width(
    open_as, live_server, cast, report
):
    case = report(
        address="东门" + "1" * 250,
        description="见 https://example.org/" + "a" * 300,
    )
    page = open_as(cast.caseworker, width=390)
    for path in (f"/cases/{case.number}/", "/cases/"):
        page.goto(f"{live_server.url}{path}")
        page_width = page.evaluate("document.documentElement.scrollWidth")
        assert page_width <= 390, f"{path} is {page_width} px wide"
    # The list's case number stays on one line: its table scrolls rather than break it.
    number = page.locator("table.cases tbody td a").first
    assert number.inner_text() == case.number
    assert number.bounding_box()["height"] < 30


def test_a_phones_tables_keep_each_name_and_figure_on_one_line(
    open_as, live_server, cast, world, report
):
    report()
    page = open_as(cast.supervisor, width=390)
    for path in ("/cases/", "/dashboard/"):
        page.goto(f"{live_server.url}{path}")
        page_width = page.evaluate("document.documentElement.scrollWidth")
        assert page_width <= 390, f"{path} is {page_width} px wide"
        # The table scrolls sideways instead of breaking 城管局 into a character a line.
        # (A cell in the list, its row's header on the dashboard.)
        name = page.locator("table.cases tbody :is(td, th)", has_text="城管局").first
        assert name.bounding_box()["height"] < 40, path  # one line and its padding


PHONE = 375  # an iPhone SE / mini's CSS width


def assert_fits(page, path):
    page_width = page.evaluate("document.scrollingElement.scrollWidth")
    assert page_width <= page.evaluate("window.innerWidth"), f"{path} is {page_width} px wide"


def test_a_dispatchers_forms_keep_to_a_phones_width(open_as, live_server, cast, report):
    case = report(category=None)  # in the pool: dispatch forms, a note with photos
    assert case.state == State.FALLBACK
    page = open_as(cast.dispatcher, width=PHONE)
    page.goto(f"{live_server.url}/cases/fallback/")
    assert page.locator("textarea").count()
    assert_fits(page, "/cases/fallback/")
    page.goto(f"{live_server.url}/cases/{case.number}/")
    assert page.locator("textarea").count() and page.locator("input[type=file]").count()
    assert_fits(page, f"/cases/{case.number}/")


def test_the_menu_wraps_on_a_phone_so_the_admin_link_stays_in_sight(open_as, live_server, cast):
    cast.district_supervisor.is_staff = True  # as the role sync leaves a supervisor
    cast.district_supervisor.save(update_fields=["is_staff"])
    page = open_as(cast.district_supervisor, width=PHONE)
    page.goto(f"{live_server.url}/dashboard/")
    assert_fits(page, "/dashboard/")
    admin = page.locator("nav.nav a", has_text="Admin")
    box = admin.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE


def test_the_maps_zoom_buttons_speak_the_pages_language(
    open_as,
    live_server,
    cast,
    world,
    compiled_catalogue,  # noqa: F811
):
    """Leaflet titles its +/− buttons (tooltip and screen reader label) in English; the
    page hands it its own words."""
    with translation.override("zh-hans"):
        words = [translation.gettext("Zoom in"), translation.gettext("Zoom out")]
    page = open_as(cast.supervisor, locale="zh-CN")
    for path, map_id in (("/cases/new/", "cell-map"), ("/dashboard/", "dashboard-map")):
        page.goto(f"{live_server.url}{path}")
        the_map = page.locator(f"#{map_id}")
        assert [
            the_map.get_attribute("data-zoom-in"),
            the_map.get_attribute("data-zoom-out"),
        ] == words
        buttons = the_map.locator(".leaflet-control-zoom a").evaluate_all(
            "links => links.map(a => [a.title, a.getAttribute('aria-label')])"
        )
        assert buttons == [[word, word] for word in words]


def test_a_touch_screen_gets_finger_sized_links_buttons_and_checkboxes(
    open_as, live_server, cast, world, report
):
    from departments.models import Responsibility

    Responsibility.objects.create(category=world.lamp, department=world.housing, role="assist")
    report(category=world.lamp)  # in the pool, with an assisting department ticked in its row
    page = open_as(cast.dispatcher, width=PHONE, touch=True)
    page.goto(f"{live_server.url}/cases/fallback/")
    assert page.evaluate("matchMedia('(pointer: coarse)').matches")
    targets = (
        boxes(page, "nav.nav a")
        + boxes(page, ".tools a")
        + boxes(page, ".tools button")  # 退出
        + boxes(page, "main button")
        + boxes(page, "label:has(> input[type=checkbox])")  # the assisting departments
        + boxes(page, ".field-whistle label")  # the whistle box's label, before it
    )
    assert len(targets) > 8
    small = [box for box in targets if box[2] < TAP]
    assert small == [], small
    checkboxes = boxes(page, "input[type=checkbox]")
    assert checkboxes and all(w >= 22 and h >= 22 for _, w, h in checkboxes), checkboxes
    page.goto(f"{live_server.url}/cases/")
    overdue = boxes(page, ".field-overdue label") + boxes(page, ".field-overdue input")
    assert overdue[0][2] >= TAP and overdue[1][2] >= 22, overdue  # 仅超期 and its box
    # The search box and date fields, and the report form's map zoom buttons (30 px).
    fields = boxes(page, "#case-filters input[type=search], #case-filters input[type=text]")
    assert fields and all(h >= TAP for _, _, h in fields), fields
    page.goto(f"{live_server.url}/cases/new/")
    zoom = boxes(page, "#cell-map .leaflet-control-zoom a")
    assert len(zoom) == 2 and all(w >= TAP and h >= TAP for _, w, h in zoom), zoom


def test_a_mouse_keeps_the_dense_layout(open_as, live_server, cast):
    page = open_as(cast.dispatcher)
    page.goto(f"{live_server.url}/cases/fallback/")
    assert not page.evaluate("matchMedia('(pointer: coarse)').matches")
    assert all(h < 30 for _, _, h in boxes(page, "nav.nav a") + boxes(page, ".tools button"))
    assert all(h < 20 for _, _, h in boxes(page, "input[type=checkbox]"))


@pytest.mark.parametrize("width", [390, 768])
def test_the_dashboards_chart_has_room_to_read_on_a_phone_or_a_tablet(
    open_as, live_server, cast, report, width
):
    report()
    page = open_as(cast.supervisor, width=width, touch=True)
    page.goto(f"{live_server.url}/dashboard/")
    page.wait_for_function("document.getElementById('rates-chart').width > 0")
    chart = page.evaluate(
        """() => { const c = Chart.getChart('rates-chart'), s = c.scales;
        return { plot: c.chartArea.bottom - c.chartArea.top,
          plotWidth: c.chartArea.right - c.chartArea.left,
          tapAnywhere: c.options.interaction.intersect === false, rotation: s.x.labelRotation,
          titles: Object.fromEntries(['y', 'y2', 'y3'].map(id => [id,
            s[id].options.title.display ? s[id].options.title.text : null])) }; }"""
    )
    # Was a 238 px canvas with a plot some 70 px high under its legend and slanted dates.
    assert chart["plot"] >= 250, chart
    # The whole width, not half of a tablet's beside the map (a plot 170 px wide).
    assert chart["plotWidth"] >= 0.4 * width, chart
    assert chart["tapAnywhere"], chart  # a tap over a day shows it, not only on a dot
    assert chart["rotation"] == 0, chart
    # Each scale titled with the page's words: the rating's 0–5 is told from the counts'.
    data = page.evaluate("JSON.parse(document.getElementById('chart-data').textContent)")
    assert (
        chart["titles"]
        == data["axes"]
        == {
            "y": "Rate (%)",
            "y2": "Cases reported",
            "y3": "Satisfaction (1–5)",
        }
    )


X_LABEL_GAPS = """() => { const c = Chart.getChart('rates-chart'), s = c.scales.x, ctx = c.ctx;
  ctx.save(); ctx.font = Chart.helpers.toFont(s.options.ticks.font).string;
  const shown = s.ticks.map(
    (t, i) => ({x: s.getPixelForTick(i), w: ctx.measureText(t.label).width}));
  ctx.restore();
  return shown.slice(1).map((b, i) => b.x - shown[i].x - (b.w + shown[i].w) / 2); }"""


def test_the_dashboards_dates_never_touch_on_a_phone_in_chinese(open_as, live_server, cast, report):
    # "11月18日11月28日" read as one word: Chart.js thinned the dates for a width that
    # Chinese dates fill to the last pixel.
    report()
    page = open_as(cast.supervisor, locale="zh-CN", width=360, touch=True)
    page.goto(f"{live_server.url}/dashboard/")
    page.wait_for_function("document.getElementById('rates-chart').width > 0")
    gaps = page.evaluate(X_LABEL_GAPS)
    assert gaps and min(gaps) >= 8, gaps


def test_each_cell_on_the_map_shows_its_code_while_it_has_room_for_it(
    open_as, live_server, cast, world
):
    # Without map tiles the cells are alike squares: the code tells a worker which is theirs.
    page = open_as(cast.caseworker, width=PHONE, touch=True)
    page.goto(f"{live_server.url}/cases/new/")
    labels = page.locator("#cell-map .cell-label")
    assert sorted(labels.all_inner_texts()) == [world.n1.code, world.n2.code, world.n3.code]
    # A tap on a label picks the cell under it (the label is no target of its own).
    box = labels.first.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    assert page.input_value("select[name=cell]") != ""
    # Zoomed out, the cells are too small for their codes: none is drawn over another.
    for _ in range(4):
        page.locator("#cell-map .leaflet-control-zoom-out").click()
        page.wait_for_timeout(300)
    page.wait_for_function("document.querySelectorAll('#cell-map .cell-label').length === 0")


def test_tab_skips_the_cell_outlines_for_the_cell_list(open_as, live_server, cast, world, report):
    """Nameless SVG paths were a Tab stop each (Leaflet's tooltip listens for their focus),
    as many as the township has cells: the searchable list beside the map is the way."""
    report()
    page = open_as(cast.supervisor)
    for path, map_id in (("/cases/new/", "cell-map"), ("/dashboard/", "dashboard-map")):
        page.goto(f"{live_server.url}{path}")
        outlines = page.locator(f"#{map_id} path.leaflet-interactive")
        assert outlines.count() == 3
        assert outlines.evaluate_all("ps => ps.map(p => p.getAttribute('tabindex'))") == ["-1"] * 3
        page.locator(f"#{map_id}").focus()
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.tagName") == "A", path  # the zoom buttons
    page.goto(f"{live_server.url}/cases/new/")
    page.locator("#cell-map").focus()
    for _ in range(3):  # zoom in, zoom out, then the list's search box
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "cell-search"
