"""The emails a supervisor reads on a phone (360×740, touch), in English and Chinese, as a
mail app shows them: the HTML part saved to a file and opened, laid out for the screen,
its actions buttons a finger can hit, leading to this site (SITE_URL), where they work on
the phone. One browser for the module."""

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine

from cases.models import Escalation, OutboxMessage
from cases.services.escalation import escalation_sweep
from cases.services.extensions import extension_request
from tests.browser import TAP, needs_chromium
from tests.cases.outbox_support import message_to
from tests.cases.test_i18n import compiled_catalogue  # noqa: F401 (a fixture)

pytest.importorskip("playwright.sync_api")

pytestmark = [
    needs_chromium,
    pytest.mark.xdist_group("phone-email-browser"),
    pytest.mark.usefixtures("compiled_catalogue"),
]

SHANGHAI = ZoneInfo("Asia/Shanghai")
PHONE = {"width": 360, "height": 740}
LANGUAGES = [("en-GB", "en"), ("zh-CN", "zh-hans")]

# How wide the page is laid out, and its smallest text as the eye sees it (the size times
# the zoom a phone applies to a page laid out wider than the screen).
LAYOUT = """() => {
  const texts = [...document.querySelectorAll('body *')].filter(e => [...e.childNodes]
    .some(n => n.nodeType === Node.TEXT_NODE && n.textContent.trim()));
  const size = e => parseFloat(getComputedStyle(e).fontSize);
  return { width: document.documentElement.scrollWidth,
           text: Math.min(...texts.map(size)) * visualViewport.scale };
}"""


@pytest.fixture
def phone(browser):
    """phone(locale) → a touch screen's page, signed in nowhere, as a mail app's."""
    contexts = []

    def _open(locale):
        context = browser.new_context(viewport=PHONE, locale=locale, has_touch=True, is_mobile=True)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield _open
    for context in contexts:
        context.close()


@pytest.fixture
def site(live_server, settings):
    settings.SITE_URL = live_server.url
    return live_server.url


def open_email(page, html, tmp_path):
    """Open the HTML part as a mail app does: a document of its own, links and all."""
    path = tmp_path / "email.html"
    path.write_text(html, encoding="utf-8")
    page.goto(path.as_uri())


def buttons(page):
    """{label: (href, height)} of the email's links that are its actions."""
    return {
        label: (href, height)
        for label, href, height in page.locator("a").evaluate_all(
            "els => els.map(e => [e.textContent.trim(), e.href,"
            " Math.round(e.getBoundingClientRect().height)])"
        )
    }


def assert_reads_on_a_phone(page):
    layout = page.evaluate(LAYOUT)
    # Without a viewport the phone laid it out 980 px wide and shrank it to 6 px text.
    assert layout["width"] <= PHONE["width"], layout
    assert layout["text"] >= 13, layout


def assert_opens_the_case_with_a_finger(page):
    """The link to the case on a signed link's page: alone on its line, it was 19 px high."""
    link = page.locator("main .case-link a")
    assert link.count() == 1 and link.bounding_box()["height"] >= TAP


@pytest.fixture
def overdue(report):
    with time_machine.travel(datetime(2026, 11, 23, 10, tzinfo=SHANGHAI), tick=False):
        return report()


@pytest.mark.parametrize("locale, language", LANGUAGES)
def test_an_escalation_email_fits_a_phone_and_its_acknowledge_button_works_there(
    phone, site, overdue, settings, tmp_path, locale, language
):
    settings.LANGUAGE_CODE = language  # a department's supervisor has no account
    escalation_sweep(now=datetime(2026, 11, 23, 12, 30, tzinfo=SHANGHAI))
    email = message_to("cg-boss@example.org")
    page = phone(locale)
    open_email(page, email.html, tmp_path)
    assert_reads_on_a_phone(page)
    acknowledge, open_case = {
        "en": ("Acknowledge this escalation", "Open the case"),
        "zh-hans": ("签收此督办", "打开案件"),
    }[language]
    actions = buttons(page)
    assert actions[acknowledge][0].startswith(f"{site}/escalations/ack/")
    assert actions[open_case][0] == f"{site}/cases/{overdue.number}/"
    assert actions[acknowledge][1] >= TAP and actions[open_case][1] >= TAP, actions

    with page.expect_navigation():
        page.get_by_role("link", name=acknowledge).tap()
    assert_reads_on_a_phone(page)
    assert_opens_the_case_with_a_finger(page)
    with page.expect_navigation():
        page.locator("main form button[type=submit]").tap()
    assert page.locator(".message.success").is_visible()
    escalation = Escalation.objects.get(level=1)
    assert escalation.acknowledged_by_email == "cg-boss@example.org"


@pytest.mark.parametrize("locale, language", LANGUAGES)
def test_an_extension_request_email_fits_a_phone_and_its_decision_button_works_there(
    phone, site, overdue, cast, settings, tmp_path, locale, language
):
    settings.LANGUAGE_CODE = language
    extension_request(case=overdue, actor=cast.liaison, reason="等业主回来", extra_days=Decimal(2))
    email = OutboxMessage.objects.get(to="cg-boss@example.org")
    page = phone(locale)
    open_email(page, email.html, tmp_path)
    assert_reads_on_a_phone(page)
    decide = {"en": "Approve or refuse this extension", "zh-hans": "批准或驳回此延期"}[language]
    href, height = buttons(page)[decide]
    assert href.startswith(f"{site}/extensions/decide/") and height >= TAP

    with page.expect_navigation():
        page.get_by_role("link", name=decide).tap()
    assert_reads_on_a_phone(page)
    assert overdue.number in page.locator("h1").inner_text()
    # The page had no way to the case the supervisor decides on.
    assert_opens_the_case_with_a_finger(page)
