"""The signed acknowledge link of an escalation email (SPEC §4): it names the escalation
and the address, opens a confirmation page, acts on POST only, records the address in the
audit trail, and expires after 14 days; a tampered, expired or reused link says so."""

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from cases.models import CaseEvent, Escalation
from cases.services import workflow
from cases.services.acknowledgement import AckLinkError, ack_token, escalation_acknowledge
from cases.services.escalation import escalation_sweep
from departments.models import User
from tests.browser import chromium, needs_chromium
from tests.cases.test_i18n import compiled_catalogue  # noqa: F401 (a fixture)

SHANGHAI = ZoneInfo("Asia/Shanghai")
ESCALATED_AT = datetime(2026, 11, 23, 12, tzinfo=SHANGHAI)


@pytest.fixture
def escalation(report, cast):
    with time_machine.travel(datetime(2026, 11, 23, 10, tzinfo=SHANGHAI), tick=False):
        report()
    escalation_sweep(now=ESCALATED_AT)
    return Escalation.objects.get(level=1)


def link(escalation, address="cg-boss@example.org"):
    return f"/escalations/ack/{ack_token(escalation_pk=escalation.pk, address=address)}/"


def assert_link_refused(client, escalation, address, why):
    """The link, opened and posted, is refused saying `why`, and acknowledges nothing."""
    for response in (client.get(link(escalation, address)), client.post(link(escalation, address))):
        assert response.status_code == 403
        assert why in response.content.decode()
    escalation.refresh_from_db()
    assert escalation.acknowledged_at is None
    assert not CaseEvent.objects.filter(action="acknowledge").exists()


def test_opening_the_link_shows_a_confirmation_and_changes_nothing(client, escalation):
    response = client.get(link(escalation))
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]  # the link acts for its recipient
    page = response.content.decode()
    assert escalation.case.number in page and "cg-boss@example.org" in page
    assert 'method="post"' in page
    escalation.refresh_from_db()
    assert escalation.acknowledged_at is None
    assert not CaseEvent.objects.filter(action="acknowledge").exists()


def test_the_confirmation_page_says_what_became_of_the_case_and_links_to_it(
    client, escalation, cast
):
    # A leader opening a week-old link should not acknowledge blind a case long resolved.
    workflow.case_accept(case=escalation.case, actor=cast.liaison)
    workflow.case_resolve(case=escalation.case, actor=cast.liaison, note="已修好")
    page = client.get(link(escalation), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert re.search(r'id="ack-case-state">\s*resolved\s*<', page)
    assert f'href="{reverse("cases:detail", args=[escalation.case.number])}"' in page
    # The owner shown is the escalation's, beside the case's state now: it says so.
    assert "<dt>Owner when escalated</dt>" in page


def test_the_confirmation_page_names_the_township_whose_pool_owned_the_case(
    client, report, cast, world
):
    """It said "the township's fallback pool" (街道兜底池) where the email that linked to it
    names the township (城西街道兜底池)."""
    with time_machine.travel(datetime(2026, 11, 23, 10, tzinfo=SHANGHAI), tick=False):
        report(category=None)
    escalation_sweep(now=datetime(2026, 11, 24, 12, tzinfo=SHANGHAI))
    pooled = Escalation.objects.get(level=1, department=None)
    township = pooled.case.township.name
    for language, owner in [
        ("en", f"fallback pool of {township}"),
        ("zh-hans", f"{township}兜底池"),
    ]:
        page = client.get(link(pooled, "supervisor@example.org"), HTTP_ACCEPT_LANGUAGE=language)
        assert re.search(rf"</dt><dd>{owner}</dd>", page.content.decode()), language


def test_confirming_acknowledges_and_records_the_address_in_the_audit_trail(escalation):
    browser = Client(enforce_csrf_checks=True)
    url = link(escalation)
    page = browser.get(url).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    with time_machine.travel(ESCALATED_AT + timedelta(hours=1), tick=False):
        response = browser.post(url, {"csrfmiddlewaretoken": token})
    assert response.status_code == 302 and response["Location"] == url
    escalation.refresh_from_db()
    assert escalation.acknowledged_by_email == "cg-boss@example.org"
    assert escalation.acknowledged_at == ESCALATED_AT + timedelta(hours=1)
    event = CaseEvent.objects.get(action="acknowledge")
    assert event.case_id == escalation.case_id
    assert event.actor is None and event.actor_label == "cg-boss@example.org"
    assert event.data["level"] == 1
    assert "acknowledged by cg-boss@example.org" in browser.get(url).content.decode()


def test_a_reused_link_says_it_was_already_acknowledged_and_records_nothing_more(
    client, escalation
):
    client.post(link(escalation))
    response = client.post(link(escalation, "supervisor@example.org"), follow=True)
    page = response.content.decode()
    assert response.status_code == 200
    assert "acknowledged by cg-boss@example.org" in page
    assert CaseEvent.objects.filter(action="acknowledge").count() == 1
    escalation.refresh_from_db()
    assert escalation.acknowledged_by_email == "cg-boss@example.org"


def messages_on(page: str) -> list[str]:
    return re.findall(r'<li class="message [^"]*">(.*?)</li>', page, re.S)


def test_the_page_after_confirming_says_the_acknowledgement_was_recorded(client, escalation):
    page = client.post(link(escalation), follow=True).content.decode()
    assert messages_on(page) == [
        "Acknowledged: recorded in the case&#x27;s audit trail with this address."
    ]


def test_confirming_after_an_earlier_acknowledgement_says_nothing_more_was_recorded(
    client, escalation
):
    """The page read "acknowledged by cg-boss@… at …" whether this confirmation did it or
    one made before it (a colleague's, another tab's): the person pressing could not tell."""
    opened = client.get(link(escalation, "supervisor@example.org"))  # the button shown
    assert 'method="post"' in opened.content.decode()
    escalation_acknowledge(escalation_pk=escalation.pk, address="cg-boss@example.org")

    response = client.post(link(escalation, "supervisor@example.org"), follow=True)
    page = response.content.decode()
    assert messages_on(page) == [
        "Nothing was recorded: this escalation had been acknowledged before you confirmed."
    ]
    assert "acknowledged by cg-boss@example.org" in page
    page = client.post(
        link(escalation, "supervisor@example.org"), follow=True, HTTP_ACCEPT_LANGUAGE="zh-hans"
    ).content.decode()
    assert messages_on(page) == ["本次未作记录：此督办在您确认之前已被签收。"]
    assert CaseEvent.objects.filter(action="acknowledge").count() == 1


@pytest.mark.usefixtures("compiled_catalogue")
def test_in_chinese_the_page_says_签收_as_the_email_does(client, escalation, cast):
    """The email's button reads 签收此督办 (acknowledge); the page it opened was titled
    确认案件…的督办, its button 确认 (confirm), and what it said after, the case's timeline
    and the admin 已确认, so one act went by two names."""
    chinese = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}
    page = client.get(link(escalation), **chinese).content.decode()
    assert f"<h1>案件 {escalation.case.number}：1 级督办</h1>" in page
    assert f"<title>签收案件 {escalation.case.number} 的督办" in page
    assert '<button type="submit">签收</button>' in page
    page = client.post(link(escalation), follow=True, **chinese).content.decode()
    assert messages_on(page)[0].startswith("已签收")
    assert re.search(r"此督办已由 cg-boss@example\.org 于 [^<]* 签收。", page)
    client.force_login(cast.supervisor)
    page = client.get(f"/cases/{escalation.case.number}/", **chinese).content.decode()
    assert "督办已签收" in page


def test_a_tampered_link_is_refused_with_a_clear_page(client, escalation):
    token = ack_token(escalation_pk=escalation.pk, address="cg-boss@example.org")
    forged = token.replace(token[5], "A" if token[5] != "A" else "B", 1)
    for url in (f"/escalations/ack/{forged}/", "/escalations/ack/not-a-token/"):
        response = client.post(url)
        assert response.status_code == 400
        assert "not valid" in response.content.decode()
    escalation.refresh_from_db()
    assert escalation.acknowledged_at is None


def test_a_link_for_another_address_cannot_be_made_from_one_we_sent(client, escalation):
    token = ack_token(escalation_pk=escalation.pk, address="cg-boss@example.org")
    signature = token.rpartition(":")[2]
    other = ack_token(escalation_pk=escalation.pk, address="mallory@example.org")
    spliced = other.rpartition(":")[0] + ":" + signature
    assert client.get(f"/escalations/ack/{spliced}/").status_code == 400


def test_a_link_works_for_14_days_and_then_expires(client, escalation):
    url = link(escalation)
    with time_machine.travel(timedelta(days=13, hours=23)):
        assert client.get(url).status_code == 200
    with time_machine.travel(timedelta(days=14, minutes=1)):
        response = client.post(url)
    assert response.status_code == 410
    assert "expired" in response.content.decode()
    escalation.refresh_from_db()
    assert escalation.acknowledged_at is None


def test_an_expired_link_links_to_its_case_and_the_sign_in_comes_back_to_it(
    client, escalation, cast
):
    """ "Open the case in the system to act on it", said the expired link's page, with no
    link: a supervisor on a phone had nowhere to go."""
    url = link(escalation)
    with time_machine.travel(timedelta(days=14, minutes=1)):
        response = client.get(url)
    assert response.status_code == 410
    case_page = f"/cases/{escalation.case.number}/"
    assert f'<a href="{case_page}">Open the case</a>' in response.content.decode()
    sign_in = client.get(case_page)
    assert sign_in["Location"] == f"{reverse('login')}?next={case_page}"
    signed_in = client.post(
        sign_in["Location"], {"username": "supervisor", "password": "pass-for-tests-1"}
    )
    assert signed_in["Location"] == case_page
    assert client.get(case_page).status_code == 200


def test_a_link_sent_to_a_supervisor_whose_account_was_deactivated_no_longer_works(
    client, escalation, cast, world
):
    escalation_sweep(now=ESCALATED_AT + timedelta(hours=1))  # level 2: the township's leaders
    leaders = Escalation.objects.get(level=2)
    address = cast.supervisor.email
    cast.supervisor.is_active = False
    cast.supervisor.save()

    assert_link_refused(client, leaders, address, "an account since deactivated")

    # Still among a department's supervisors (any case of letters), the address speaks for it.
    world.market.supervisor_emails = f"sj-boss@example.org; {address.upper()}"
    world.market.save()
    assert client.post(link(leaders, address)).status_code == 302
    leaders.refresh_from_db()
    assert leaders.acknowledged_by_email == address


def test_a_link_sent_to_a_supervisor_who_is_no_longer_one_no_longer_works(client, escalation, cast):
    escalation_sweep(now=ESCALATED_AT + timedelta(hours=1))  # level 2: the township's leaders
    leaders = Escalation.objects.get(level=2)
    address = cast.supervisor.email
    # Still an active account, but a caseworker now: escalations no longer go to it.
    cast.supervisor.role = User.Role.CASEWORKER
    cast.supervisor.save()

    assert_link_refused(client, leaders, address, "no longer a supervisor")


def test_the_service_refuses_an_acknowledgement_from_an_address_escalations_left(escalation, world):
    world.urban.supervisor_emails = "new-boss@example.org"
    world.urban.save()

    with pytest.raises(AckLinkError) as refused:
        escalation_acknowledge(escalation_pk=escalation.pk, address="cg-boss@example.org")

    assert refused.value.reason == "withdrawn"
    escalation.refresh_from_db()
    assert escalation.acknowledged_at is None
    assert not CaseEvent.objects.filter(action="acknowledge").exists()


def test_a_link_sent_to_a_departments_former_head_no_longer_works(client, escalation, world):
    world.urban.supervisor_emails = "new-boss@example.org"
    world.urban.save()

    response = client.post(link(escalation, "cg-boss@example.org"))

    assert response.status_code == 403
    escalation.refresh_from_db()
    assert escalation.acknowledged_at is None
    assert client.post(link(escalation, "new-boss@example.org")).status_code == 302


def test_a_link_to_an_escalation_that_does_not_exist_is_not_found(client, db):
    token = ack_token(escalation_pk=999, address="x@example.org")
    assert client.get(f"/escalations/ack/{token}/").status_code == 404


def test_only_get_and_post_are_allowed(client, escalation):
    assert client.put(link(escalation)).status_code == 405


@needs_chromium
@pytest.mark.django_db(transaction=True)
def test_a_supervisor_acknowledges_from_the_email_link_in_a_browser(live_server, report, cast):
    with time_machine.travel(datetime(2026, 11, 23, 10, tzinfo=SHANGHAI), tick=False):
        report()
    escalation_sweep(now=ESCALATED_AT)
    escalation = Escalation.objects.select_related("case").get(level=1)
    # No ORM inside the Playwright block: its greenlet would open a connection of its own.
    url, number = live_server.url + link(escalation), escalation.case.number
    with chromium() as browser:
        page = browser.new_page()
        page.goto(url)
        assert number in page.text_content("h1")
        page.get_by_role("button", name="Acknowledge").click()
        page.wait_for_selector(".ack-done")
        assert "acknowledged by cg-boss@example.org" in page.text_content(".ack-done")
    escalation.refresh_from_db()
    assert escalation.acknowledged_by_email == "cg-boss@example.org"
    assert CaseEvent.objects.filter(
        action="acknowledge", actor_label="cg-boss@example.org"
    ).exists()


@needs_chromium
@pytest.mark.django_db(transaction=True)
def test_the_acknowledge_page_lays_its_facts_out_as_the_case_page_does(live_server, report, cast):
    """Each label beside its value, as on the case page: the page's facts stacked label
    over indented value (the browser's bare <dl>), with the case's state lost at the foot."""
    with time_machine.travel(datetime(2026, 11, 23, 10, tzinfo=SHANGHAI), tick=False):
        report()
    escalation_sweep(now=ESCALATED_AT)
    url = live_server.url + link(Escalation.objects.get(level=1))
    with chromium() as browser:
        page = browser.new_page()
        page.goto(url)
        label = page.locator("dt", has_text="State").bounding_box()
        value = page.locator("#ack-case-state").bounding_box()
    assert abs(label["y"] - value["y"]) < 4 and value["x"] > label["x"] + label["width"]


def test_an_escalation_email_sent_again_carries_a_link_that_works_for_14_days(
    client, escalation, cast, monkeypatch
):
    """Refused for good, sent again by an administrator 15 days later with the case still on
    that deadline: the link in the email that now goes out must not arrive expired."""
    import smtplib

    from cases.models import OutboxMessage
    from cases.services.outbox import sending
    from cases.services.outbox.resend import outbox_messages_resend
    from cases.services.outbox.sending import deliver

    row = OutboxMessage.objects.get(escalation=escalation, to="cg-boss@example.org")
    refused = smtplib.SMTPRecipientsRefused({row.to: (550, b"mailbox unavailable")})

    def refuse(message):
        raise refused

    with time_machine.travel(ESCALATED_AT + timedelta(minutes=1), tick=False):
        monkeypatch.setattr(sending, "_send", refuse)
        assert deliver(message_pk=row.pk).outcome == "failed"
    monkeypatch.undo()
    resent_at = ESCALATED_AT + timedelta(days=15)
    with time_machine.travel(resent_at, tick=False):
        assert outbox_messages_resend(message_pks=[row.pk], actor=cast.admin).resent
        assert deliver(message_pk=row.pk).outcome == "sent"
    row.refresh_from_db()
    url = re.search(r"https?://[^/\s]+(/escalations/ack/[^\s]+/)", row.text).group(1)
    with time_machine.travel(resent_at + timedelta(hours=1), tick=False):
        assert client.get(url).status_code == 200
