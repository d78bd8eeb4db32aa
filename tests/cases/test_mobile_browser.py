"""A caseworker's pages on a phone (360×740) and a tablet (768×1024), touch screens both, in
English and Chinese: nothing wider than the screen, the top bar in one row on a tablet,
targets a finger can hit, text big enough to read. One browser for the module."""

import re
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from PIL import Image

from cases.models import Case, State
from cases.services import workflow
from departments.models import Category, GridCell, RoutingStamp
from tests.browser import TAP, boxes, needs_chromium, sign_in
from tests.cases.test_i18n import compiled_catalogue  # noqa: F401 (a fixture)
from tests.conftest import make_cell

pytest.importorskip("playwright.sync_api")

# Chinese pages need the catalogue compiled.
pytestmark = [
    needs_chromium,
    pytest.mark.xdist_group("mobile-browser"),
    pytest.mark.usefixtures("compiled_catalogue"),
]

ARTIFACTS = Path(django_settings.BASE_DIR) / "test-artifacts"
PHONE = {"width": 360, "height": 740}
TABLET = {"width": 768, "height": 1024}

# Every text field's size, and the smallest text on the page (its own text nodes only).
FONT_SIZES = """() => {
  const shown = [...document.querySelectorAll('body *')].filter(e => e.checkVisibility());
  const fields = shown.filter(e => e.matches('input:not([type=hidden]), select, textarea'));
  const texts = shown.filter(e => !e.closest('.leaflet-container') && [...e.childNodes]
    .some(n => n.nodeType === Node.TEXT_NODE && n.textContent.trim()));
  const size = e => parseFloat(getComputedStyle(e).fontSize);
  return { fields: Math.min(...fields.map(size)), text: Math.min(...texts.map(size)) };
}"""


@pytest.fixture
def open_on(browser, live_server, request):
    """open_on(user, screen, locale) → a touch screen's page signed in as `user`."""
    contexts = []
    failed_before = request.session.testsfailed

    def _open(user, screen, locale="en-GB"):
        """`user` None: nobody signed in."""
        context = browser.new_context(
            viewport=screen, locale=locale, has_touch=True, is_mobile=True
        )
        if user is not None:
            sign_in(context, live_server, user)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield _open
    if request.session.testsfailed > failed_before:
        ARTIFACTS.mkdir(exist_ok=True)
        for n, context in enumerate(contexts):
            for m, page in enumerate(context.pages):
                page.screenshot(path=ARTIFACTS / f"{request.node.name}-{n}-{m}.png")
    for context in contexts:
        context.close()


@pytest.fixture
def township_names(cast, world):
    """Names as long as a real township's: they are what overflowed and wrapped."""
    for user, name in (
        (cast.caseworker, "张网格员（城东）"),
        (cast.supervisor, "城东街道 陈副主任"),
    ):
        user.full_name = name
        user.save(update_fields=["full_name"])
    Category.objects.filter(pk=world.rubbish.pk).update(name_en="Exposed rubbish by the road")
    for n, cell in enumerate((world.n1, world.n2, world.n3), start=1):
        GridCell.objects.filter(pk=cell.pk).update(name=f"宏城社区第{n}网格")
    RoutingStamp.bump()


def fits(page, screen):
    # Not window.innerWidth: a phone's browser widens its layout to what overflows.
    return page.evaluate("document.documentElement.scrollWidth") <= screen["width"]


# How many lines a range of text takes.
LINES = "r => new Set([...r.getClientRects()].map(x => Math.round(x.bottom))).size"


def lines(locator):
    """How many lines the element's text takes."""
    return locator.evaluate(
        f"e => {{ const r = document.createRange(); r.selectNodeContents(e);"
        f" return ({LINES})(r); }}"
    )


def title_lines(page):
    """How many lines a case page's title takes, before its state."""
    return page.locator("h1").evaluate(
        f"h => {{ const r = document.createRange(); r.setStart(h, 0);"
        f" r.setEndBefore(h.querySelector('.state')); return ({LINES})(r); }}"
    )


def tops(page, selector):
    return page.locator(selector).evaluate_all(
        "els => els.filter(e => e.checkVisibility())"
        ".map(e => Math.round(e.getBoundingClientRect().top))"
    )


@pytest.mark.parametrize("user", ["caseworker", "supervisor"])
@pytest.mark.parametrize("locale", ["en-GB", "zh-CN"])
def test_a_tablets_top_bar_is_one_row_with_the_account_behind_a_tap(
    open_on, live_server, cast, township_names, user, locale
):
    page = open_on(getattr(cast, user), TABLET, locale)
    page.goto(f"{live_server.url}/cases/")
    # The brand, every link and the account's button side by side (in English the
    # language, the name, "Change password" and "Sign out" took a second row).
    assert len(set(tops(page, ".brand, nav.nav a, .account-toggle"))) == 1
    assert page.locator(".topbar").bounding_box()["height"] <= TAP + 1
    assert not page.locator(".account-menu").is_visible()
    page.locator(".account-toggle").tap()
    menu = page.locator(".account-menu")
    assert menu.is_visible() and menu.locator("select[name=language]").is_visible()
    assert getattr(cast, user).full_name in menu.locator(".whoami").inner_text()
    targets = boxes(page, ".account-menu a") + boxes(page, ".account-menu button")
    assert len(targets) == 2 and all(h >= TAP for _, _, h in targets), targets
    menu_box = menu.bounding_box()
    assert menu_box["x"] >= 0 and menu_box["x"] + menu_box["width"] <= TABLET["width"]


def test_a_phone_switches_language_from_the_account_menu(open_on, live_server, cast):
    page = open_on(cast.caseworker, PHONE)
    page.goto(f"{live_server.url}/cases/")
    # Two rows: the brand and the account's button, then the links (it was six rows).
    assert len(set(tops(page, ".brand, .account-toggle"))) == 1
    assert len(set(tops(page, "nav.nav a"))) == 1
    assert page.locator(".topbar").bounding_box()["height"] <= 2 * TAP + 1
    page.locator(".account-toggle").tap()
    with page.expect_navigation():
        page.select_option(".account-menu select[name=language]", "zh-hans")
    assert page.locator("h1").inner_text() == "案件"
    assert page.url == f"{live_server.url}/cases/"


@pytest.mark.parametrize("locale", ["en-GB", "zh-CN"])
def test_a_phone_reports_a_case_by_tapping_with_a_photo(
    open_on, live_server, cast, world, township_names, tmp_path, settings, locale
):
    settings.MEDIA_ROOT = tmp_path / "media"
    photo = tmp_path / "rubbish.jpg"
    Image.new("RGB", (800, 600), (200, 30, 30)).save(photo)
    page = open_on(cast.caseworker, PHONE, locale)
    page.goto(f"{live_server.url}/cases/new/")
    assert fits(page, PHONE)
    sizes = page.evaluate(FONT_SIZES)
    assert sizes["fields"] >= 16, sizes  # iOS zooms into a field with smaller text
    assert sizes["text"] >= 14, sizes  # the help lines were 13 px
    assert page.locator("#cell-map").bounding_box()["height"] <= 0.6 * PHONE["height"]
    page.locator("#category-search").tap()
    page.keyboard.type("ENV-RUBBISH")
    page.locator("#cell-map path.leaflet-interactive").nth(1).tap()
    assert page.input_value("select[name=cell]") == str(world.n2.pk)
    page.locator("textarea[name=description]").tap()
    page.keyboard.type("路边堆放垃圾")
    page.set_input_files("#report-form input[name=photos]", str(photo))
    page.locator("#report-submit").tap()

    page.wait_for_selector("#routing")
    case = Case.objects.get()
    assert (case.cell, case.category, case.photos.count()) == (world.n2, world.rubbish, 1)
    assert fits(page, PHONE)
    assert world.urban.name in page.locator("#routing").inner_text()
    # "Case 2026-000001" on one line: at 32 px it broke at its hyphen.
    assert title_lines(page) == 1
    caption = page.locator("figure.photo figcaption")
    assert caption.evaluate("e => parseFloat(getComputedStyle(e).fontSize)") >= 14


def test_a_phone_held_sideways_can_scroll_the_report_past_its_map(open_on, live_server, cast):
    # A finger on the map pans the map: at 360 px high it filled the screen.
    sideways = {"width": PHONE["height"], "height": PHONE["width"]}
    page = open_on(cast.caseworker, sideways)
    page.goto(f"{live_server.url}/cases/new/")
    assert page.locator("#cell-map").bounding_box()["height"] <= 0.6 * sideways["height"]


def test_a_phone_lists_cases_as_cards_a_tap_opens(
    open_on, live_server, cast, world, township_names, report, monkeypatch
):
    monkeypatch.setattr("cases.views.lists.PAGE_SIZE", 2)  # a pager, from three cases
    first = report(address="东门")
    report()
    latest = report(category=world.lamp)
    page = open_on(cast.caseworker, PHONE)
    page.goto(f"{live_server.url}/cases/")
    # The category list, as wide as its longest name, took the page 500 px wide.
    assert fits(page, PHONE)
    # Still a table to a screen reader, though drawn as cards: rows of labelled cells.
    table = page.get_by_role("table")
    assert table.get_by_role("row").count() == 3
    assert table.get_by_role("columnheader").count() == 7
    assert table.get_by_role("cell").count() == 2 * 7
    cards = page.locator("table.cases tbody tr")
    assert cards.count() == 2 and latest.number in cards.first.inner_text()
    card = cards.first.bounding_box()
    assert card["width"] <= PHONE["width"] and card["height"] > 3 * TAP
    # Each cell in sight, after its label.
    due = cards.first.locator("td").last
    assert due.evaluate("td => getComputedStyle(td, '::before').content") == '"Due: "'
    assert due.bounding_box()["x"] + due.bounding_box()["width"] <= PHONE["width"]
    targets = (
        boxes(page, "#case-filters a")  # Clear
        + boxes(page, "#case-filters button")
        + boxes(page, "#case-filters select")
        + boxes(page, ".exports a")  # CSV, XLSX
        + boxes(page, ".pagination a")
    )
    assert len(targets) == 9 and all(h >= TAP for _, _, h in targets), targets
    with page.expect_navigation():
        page.locator(".pagination a").tap()
    assert page.locator("table.cases tbody tr").count() == 1
    # A tap on a card's lead department, far from its number, opens the case.
    lead = page.locator("table.cases tbody td", has_text=world.urban.name)
    lead.scroll_into_view_if_needed()
    lead = lead.bounding_box()
    page.touchscreen.tap(lead["x"] + lead["width"] / 2, lead["y"] + lead["height"] / 2)
    page.wait_for_url(f"{live_server.url}/cases/{first.number}/")


def test_a_tablets_case_list_scrolls_in_its_own_box_each_name_on_one_line(
    open_on, live_server, cast, world, township_names, report
):
    report()
    page = open_on(cast.caseworker, TABLET)
    page.goto(f"{live_server.url}/cases/")
    assert fits(page, TABLET)
    # Squeezed into the screen, 宏城社区第1网格 came out a few characters a line and the
    # dates in two; the table scrolls in its own box instead.
    row = page.locator("table.cases tbody tr").first
    assert [lines(cell) for cell in row.locator("td").all()[1:]] == [1] * 6
    assert page.locator("table.cases").evaluate("t => t.scrollWidth > t.clientWidth")


def test_a_phone_verifies_a_resolved_case_with_finger_sized_buttons(
    open_on, live_server, cast, report
):
    case = report()
    workflow.case_accept(case=case, actor=cast.liaison)
    workflow.case_resolve(case=case, actor=cast.liaison, note="已清理")
    page = open_on(cast.caseworker, PHONE)
    page.goto(f"{live_server.url}/cases/{case.number}/")
    assert fits(page, PHONE)
    assert title_lines(page) == 1  # "Case 2026-" above "000001" at 32 px
    buttons = boxes(page, "form.transition button")  # verify, reopen, add a note
    assert len(buttons) == 3 and all(h >= TAP for _, _, h in buttons), buttons
    assert page.evaluate(FONT_SIZES)["text"] >= 14
    form = page.locator("form.transition-verify")
    form.locator("select[name=satisfaction]").select_option("5")
    form.locator("button[type=submit]").tap()
    page.wait_for_selector(".message.success")
    case.refresh_from_db()
    assert case.state == State.CLOSED
    assert fits(page, PHONE)
    assert re.search(r"resolved\s*→\s*closed", page.locator(".timeline").inner_text())


def test_a_phones_sign_in_and_forgotten_password_links_are_finger_sized(open_on, live_server):
    # "Forgot your password?" and "Back to sign in", alone under a form, were 19 px high.
    page = open_on(None, PHONE, "zh-CN")
    page.goto(f"{live_server.url}/accounts/login/")
    links = boxes(page, "main a")
    assert len(links) == 1 and all(h >= TAP for _, _, h in links), links
    with page.expect_navigation():
        page.locator("main a").tap()
    page.locator("input[name=login]").tap()
    page.keyboard.type("nobody")
    with page.expect_navigation():
        page.locator("main button[type=submit]").tap()
    links = boxes(page, "main a")
    assert len(links) == 1 and all(h >= TAP for _, _, h in links), links


@pytest.mark.parametrize("locale", ["en-GB", "zh-CN"])
def test_a_phone_dispatches_from_the_pool_with_finger_sized_links(
    open_on, live_server, cast, world, township_names, report, locale
):
    for _ in range(4):  # more than a screen: the page can scroll to the second
        report(category=world.lamp)  # no rule: the pool
    page = open_on(cast.dispatcher, PHONE, locale)
    page.goto(f"{live_server.url}/cases/fallback/")
    assert fits(page, PHONE)
    # A case's number and "or dispatch on the case page" were 28 and 19 px high.
    targets = boxes(page, "article.pool-case a") + boxes(page, "article.pool-case button")
    assert len(targets) == 4 * 3 and all(h >= TAP for _, _, h in targets), targets
    # The date beside a case's number is one thing: it broke as "2026年12月7 / 日 09:30".
    dates = page.locator("article.pool-case h2 time")
    assert dates.count() == 4 and [lines(date) for date in dates.all()] == [1] * 4
    page.select_option("#pool-dispatch select[name=lead]", str(world.urban.pk))
    with page.expect_navigation():
        page.locator("button.dispatch-case").first.tap()
    assert Case.objects.filter(state=State.ASSIGNED, lead_department=world.urban).count() == 1
    assert page.locator("article.pool-case").count() == 3
    # Back at the next case, with the word that the dispatch was done in sight above it:
    # the browser's scroll to the case put the word just off the top of the screen.
    page.wait_for_load_state("load")
    page.wait_for_timeout(300)
    said = page.locator(".message.success").bounding_box()
    case_box = page.locator("article.pool-case").first.bounding_box()
    assert said["y"] >= 0 and said["y"] + said["height"] <= case_box["y"] < PHONE["height"]


def test_a_phone_offers_the_possible_duplicates_one_under_another(
    open_on, live_server, cast, world, report
):
    first, second = report(), report(cell=world.n2)
    page = open_on(cast.caseworker, PHONE, "zh-CN")
    page.goto(f"{live_server.url}/cases/new/")
    page.select_option("select[name=category]", str(world.rubbish.pk))
    page.select_option("select[name=cell]", str(world.n1.pk))
    page.locator("textarea[name=description]").tap()
    page.keyboard.type("又有垃圾")
    page.locator("input[name=reporter_phone]").tap()
    page.keyboard.type("13800138000")
    with page.expect_navigation():
        page.locator("#report-submit").tap()
    duplicates = page.locator("#duplicates li.duplicate")
    assert duplicates.count() == 2
    assert fits(page, PHONE)
    # Each case's number a finger can hit (it was 19 px high), and the note that the
    # reporter's contact is not added on its own line under the button, not squeezed
    # beside it and wrapping under it.
    links = boxes(page, "#duplicates li.duplicate > a")
    assert len(links) == 2 and all(h >= TAP for _, _, h in links), links
    for duplicate in duplicates.all():
        button = duplicate.locator("button.add-to-duplicate").bounding_box()
        help_ = duplicate.locator("small.help").bounding_box()
        assert help_["y"] >= button["y"] + button["height"], (button, help_)
        assert duplicate.locator("time").count() == 1 and lines(duplicate.locator("time")) == 1
    # One case's block ends before the next begins.
    first_box, second_box = (d.bounding_box() for d in duplicates.all())
    assert second_box["y"] >= first_box["y"] + first_box["height"]
    assert {first.number, second.number} == {
        a.inner_text() for a in page.locator("#duplicates li.duplicate > a").all()
    }


def test_a_phones_case_list_filters_keep_their_tick_boxes_square(open_on, live_server, cast):
    # The box after "有被召集部门未报到：" was squeezed to 17 px wide by its two-line label.
    page = open_on(cast.caseworker, PHONE, "zh-CN")
    page.goto(f"{live_server.url}/cases/")
    ticks = boxes(page, "#case-filters input[type=checkbox]")
    assert len(ticks) == 2 and all(w == h >= 24 for _, w, h in ticks), ticks


def test_a_phones_dashboard_keeps_each_due_date_on_one_line(
    open_on, live_server, cast, world, township_names, report
):
    report()
    report(category=world.lamp)  # the pool's dispatch deadline
    page = open_on(cast.supervisor, PHONE, "zh-CN")
    page.goto(f"{live_server.url}/dashboard/")
    assert fits(page, PHONE)
    # "2026年 / 12月7日 13:00": the date broke at the end of a line.
    dates = page.locator("#due-soon time")
    assert dates.count() == 2 and [lines(date) for date in dates.all()] == [1, 1]


def test_a_phones_pool_search_box_takes_the_screens_width(
    open_on, live_server, cast, world, report
):
    report(category=world.lamp)
    page = open_on(cast.dispatcher, PHONE, "zh-CN")
    page.goto(f"{live_server.url}/cases/fallback/")
    # Half a screen, under a label of three lines: the list's filters' two columns.
    search = page.locator("#pool-search-q").bounding_box()
    assert search["width"] >= 0.75 * PHONE["width"], search
    page.locator("#pool-search-q").tap()
    page.keyboard.type("路灯")
    with page.expect_navigation():
        page.locator("form.pool-search button[type=submit]").tap()
    assert page.locator("table.cases tbody tr").count() == 1


def test_a_phone_adds_photos_to_a_case_with_the_button_under_the_limits(
    open_on, live_server, cast, report
):
    case = report()
    page = open_on(cast.caseworker, PHONE, "zh-CN")
    page.goto(f"{live_server.url}/cases/{case.number}/")
    form = page.locator("#photos form")
    # The limits' line ran on beside the button, and the button sat in its second line.
    help_ = form.locator("small.help").bounding_box()
    button = form.locator("button[type=submit]").bounding_box()
    assert button["y"] >= help_["y"] + help_["height"], (help_, button)
    assert fits(page, PHONE)


# Where a map's zoom buttons and each cell label drawn are, and the cell a tap there hits.
UNDER_THE_BUTTONS = """m => {
  const buttons = m.querySelector('.leaflet-control-zoom').getBoundingClientRect();
  const overlaps = r => r.left < buttons.right && r.right > buttons.left
    && r.top < buttons.bottom && r.bottom > buttons.top;
  return [...m.querySelectorAll('.cell-label span')]
    .filter(label => overlaps(label.getBoundingClientRect())).map(label => label.textContent)
    .concat([...m.querySelectorAll('path.leaflet-interactive')]
      .filter(cell => overlaps(cell.getBoundingClientRect())).map(() => 'a cell'));
}"""


@pytest.mark.parametrize("where", ["/cases/new/", "/dashboard/"])
def test_a_phones_map_keeps_its_cells_clear_of_the_zoom_buttons(
    open_on, live_server, cast, world, report, where
):
    # A township four cells by four, as the demo's: the map fits its height, and the zoom
    # buttons sat over the top left cell, its code "CD-13" read "D-13" and a tap on its
    # corner zoomed out instead of choosing it.
    for col in range(4):
        for row in range(1, 4):
            make_cell(f"N-{row}{col}", world.north, col, row)
    RoutingStamp.bump()
    report()
    page = open_on(cast.supervisor, PHONE, "zh-CN")
    page.goto(f"{live_server.url}{where}")
    cell_map = page.locator(".map.leaflet-container")
    cell_map.scroll_into_view_if_needed()
    assert cell_map.evaluate(UNDER_THE_BUTTONS) == []
    # Still as big as the screen lets it be: the grid fills the map's height or width.
    grid = cell_map.evaluate(
        "m => { const boxes = [...m.querySelectorAll('path.leaflet-interactive')]"
        ".map(p => p.getBoundingClientRect());"
        " return [Math.max(...boxes.map(b => b.right)) - Math.min(...boxes.map(b => b.left)),"
        " Math.max(...boxes.map(b => b.bottom)) - Math.min(...boxes.map(b => b.top))]; }"
    )
    box = cell_map.bounding_box()
    assert grid[0] >= box["width"] / 2 and grid[1] >= box["height"] / 2, (grid, box)


def test_a_phone_keeps_where_it_was_going_through_a_wrong_password_and_a_language_switch(
    open_on, live_server, cast, report
):
    # A case's link from an email, a password mistyped on a phone's keyboard, then the
    # language switched: the page had lost its ?next= with the wrong password (posted to
    # /accounts/login/ alone), the switch came back to that, and signing in landed on the
    # list instead of the case.
    case = report()
    page = open_on(None, PHONE, "zh-CN")
    page.goto(f"{live_server.url}/cases/{case.number}/")
    for password in ("pass-for-test-1", "pass-for-tests-1"):
        page.locator("input[name=username]").tap()
        page.keyboard.type("caseworker")
        page.locator("input[name=password]").tap()
        page.keyboard.type(password)
        with page.expect_navigation():
            page.locator("main button[type=submit]").tap()
        if page.locator("#sign-in-error").count():
            with page.expect_navigation():
                page.select_option("select[name=language]", "en")
            assert page.locator("h1").inner_text() == "Sign in"
    page.wait_for_url(f"{live_server.url}/cases/{case.number}/")
    assert page.locator("h1").inner_text().startswith(f"Case {case.number}")
