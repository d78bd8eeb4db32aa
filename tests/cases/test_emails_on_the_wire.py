"""Every email the product sends, as a mail server and a mail reader take it: sent to a
real SMTP server on loopback (aiosmtpd) and read back from the bytes it received, with
Python's email package (RFC 5322 headers, RFC 2047 subjects, lines a server accepts, a
plain text part and an HTML part saying the same, every link leading to SITE_URL)."""

import email
import re
from datetime import datetime
from decimal import Decimal
from email import policy
from email.utils import parsedate_to_datetime
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from django.test.utils import override_script_prefix
from django.utils import timezone

from cases.models import OutboxMessage
from cases.services import extensions, workflow
from cases.services.invitations import password_reset_request, users_invite
from cases.services.outbox.sending import deliver
from departments.models import User
from tests.smtp import smtp_server

SHANGHAI = ZoneInfo("Asia/Shanghai")
SITE = "https://gov.example/gz"
# A report pasted from a chat: one very long line, a very long link, markup, and a line
# that would be a header if it ever reached one.
LONG_LINE = "路边垃圾堆积，" * 700
LONG_LINK = "https://pan.example.com/s/" + "x" * 1200
DESCRIPTION = f"<script>alert(1)</script>\r\nBcc: intruder@example.net\r\n{LONG_LINE} {LONG_LINK}"

pytestmark = pytest.mark.django_db


def at(month, day, hour, minute=0):
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


@pytest.fixture
def smtp(settings):
    settings.SITE_URL = SITE
    settings.DEFAULT_FROM_EMAIL = "网格化治理 <grid@gov.example>"
    yield from smtp_server(settings)


def deliver_all():
    for pk in OutboxMessage.objects.filter(status="pending").values_list("pk", flat=True):
        assert deliver(message_pk=pk).outcome == "sent"


def received(smtp) -> list[tuple[list[str], bytes, email.message.EmailMessage]]:
    return [
        (rcpts, raw, email.message_from_bytes(raw, policy=policy.default))
        for (rcpts, _message), raw in zip(smtp.received, smtp.raw, strict=True)
    ]


def parts(message) -> dict[str, str]:
    """The text parts of `message` by type, each checked to be declared UTF-8."""
    found = {}
    for part in message.walk():
        if part.get_content_maintype() == "text":
            assert part.get_content_charset() == "utf-8"
            # Lines end in CRLF on the wire; read as a mail reader shows them.
            found[part.get_content_type()] = part.get_content().replace("\r\n", "\n")
    return found


def links(text: str) -> set[str]:
    return set(re.findall(r"https?://[^\s<>\"]+", text))


def check_on_the_wire(rcpts: list[str], raw: bytes, message) -> dict[str, str]:
    """What a strict mail server and a mail reader check of one message; its text parts."""
    # RFC 5321/5322: no line longer than 998 octets, headers or body, in any part.
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    assert not message.defects
    # Headers in ASCII (a Chinese subject or sender name encoded as RFC 2047 says): a
    # server without SMTPUTF8 takes them.
    raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    # One recipient, the envelope's, named alone: nobody sees another's address.
    assert message.get_all("To") == rcpts and len(rcpts) == 1
    assert message.get_all("Cc") is None and message.get_all("Bcc") is None
    assert str(message["From"]) == "网格化治理 <grid@gov.example>"
    sent_at = parsedate_to_datetime(message["Date"])
    assert sent_at.year >= 2026
    assert sent_at.utcoffset() == timezone.localtime().utcoffset()  # +0800, not -0000
    assert re.fullmatch(r"<[^<>@\s]+@gov\.example>", message["Message-ID"].strip())
    stored = OutboxMessage.objects.get(message_id=message["Message-ID"].strip())
    assert message["Subject"].strip() == stored.subject
    found = parts(message)
    assert set(found) == {"text/plain", "text/html"}
    text, html = found["text/plain"], found["text/html"]
    # The description's markup is shown, never run; its "Bcc:" line stays in the body.
    assert "<script>" not in html
    # Every link of ours leads to the site, and both parts offer the same ones.
    ours = {link for link in links(text) | links(html) if "pan.example.com" not in link}
    assert ours and all(link.startswith(f"{SITE}/") for link in ours)
    assert {link for link in links(text) if link in ours} == {
        link for link in links(html) if link in ours
    }
    return found


def test_the_escalations_of_escalate_overdue_reach_a_strict_mail_server_well_formed(
    smtp, report, cast
):
    cast.supervisor.language = "zh-hans"
    cast.supervisor.save()
    with time_machine.travel(at(11, 23, 10), tick=False):
        case = report(description=DESCRIPTION)
    # The reminder (three quarters of the limit gone), then levels 1, 2 and 3.
    for moment in ("11:40", "12:00", "14:00"):
        call_command(
            "escalate_overdue", "--now", f"2026-11-23T{moment}:00+08:00", stdout=StringIO()
        )
    messages = received(smtp)
    by_address = {rcpts[0]: message for rcpts, _raw, message in messages}
    assert sorted(by_address) == [
        "cg-boss@example.org",
        "district@example.org",
        "liaison@example.org",
        "supervisor@example.org",
    ]
    for rcpts, raw, message in messages:
        text = check_on_the_wire(rcpts, raw, message)["text/plain"]
        assert case.number in message["Subject"] and case.number in text
        assert f"{SITE}/cases/{case.number}/" in text
        # Only escalations are acknowledged, each by its own link.
        assert (f"{SITE}/escalations/ack/" in text) == (rcpts != ["liaison@example.org"])
    # The township's leader reads Chinese, its subject encoded as RFC 2047 says.
    leader = by_address["supervisor@example.org"]
    assert leader["Subject"].strip().startswith(f"[{case.number}] 2 级督办")


def test_every_other_email_reaches_a_strict_mail_server_well_formed(
    smtp, report, disputed, cast, world
):
    # A department's name as long as it may be: a long Chinese subject, folded.
    world.urban.name = ("城市管理综合行政执法局" * 10)[:100]
    world.urban.save()
    cast.supervisor.language = "zh-hans"
    cast.supervisor.save()
    case = workflow.case_accept(case=report(description=DESCRIPTION), actor=cast.liaison)
    request = extensions.extension_request(
        case=case,
        actor=cast.liaison,
        reason=f"需要协调物业\r\nBcc: x@example.net {LONG_LINE}",
        extra_days=Decimal("2"),
    )
    extensions.extension_decide(request=request, approve=True, actor=cast.supervisor, note="同意")
    newcomer = User.objects.create_user(
        username="newcomer",
        email="newcomer@example.org",
        full_name="新同事\r\nBcc: x@example.net",
        role=User.Role.CASEWORKER,
        township=world.north,
        language="zh-hans",
        password=None,
    )
    users_invite(users=[newcomer])
    password_reset_request(login="caseworker")
    deliver_all()
    kinds = set()
    for rcpts, raw, message in received(smtp):
        check_on_the_wire(rcpts, raw, message)
        kinds.add(OutboxMessage.objects.get(message_id=message["Message-ID"].strip()).kind)
    assert kinds == {
        "arbitration",
        "extension",
        "extension-decision",
        "invitation",
        "password-reset",
    }


def test_a_decision_note_is_said_once_and_not_beside_the_button_to_the_case(smtp, report, cast):
    case = workflow.case_accept(case=report(), actor=cast.liaison)
    request = extensions.extension_request(
        case=case, actor=cast.liaison, reason="需要协调物业", extra_days=Decimal("2")
    )
    extensions.extension_decide(
        request=request, approve=False, actor=cast.supervisor, note="先联系物业再申请"
    )
    deliver_all()
    (told,) = smtp.to(cast.liaison.email)
    found = parts(told)
    assert found["text/plain"].count("先联系物业再申请") == 1
    assert found["text/html"].count("先联系物业再申请") == 1
    button = re.search(r"<a href=[^>]*>Open the case</a>[^<]*", found["text/html"]).group(0)
    assert button.endswith("</a>")


def test_line_breaks_in_a_reason_show_in_the_html_part_as_in_the_text(smtp, report, cast):
    case = workflow.case_accept(case=report(), actor=cast.liaison)
    extensions.extension_request(
        case=case, actor=cast.liaison, reason="物业未回复\n业主不在家", extra_days=Decimal("2")
    )
    deliver_all()
    (asked,) = smtp.to("cg-boss@example.org")
    found = parts(asked)
    assert "物业未回复\n业主不在家" in found["text/plain"]
    assert "物业未回复<br>业主不在家" in found["text/html"]


def test_links_in_emails_written_by_a_page_served_under_a_path_lead_to_the_site(
    smtp, client, report, cast
):
    """Behind a proxy that serves the site under /gz/ (gunicorn's SCRIPT_NAME), Django
    prefixes every path it makes in a request with /gz/; SITE_URL already has it."""
    case = workflow.case_accept(case=report(), actor=cast.liaison)
    with override_script_prefix("/gz/"):  # as the WSGI handler sets it for each request
        password_reset_request(login="caseworker")
        extensions.extension_request(
            case=case, actor=cast.liaison, reason="需要协调物业", extra_days=Decimal("2")
        )
    deliver_all()
    for rcpts, raw, message in received(smtp):
        for part in check_on_the_wire(rcpts, raw, message).values():
            for link in links(part):
                assert "/gz/gz/" not in link
                assert link.startswith(f"{SITE}/")
    (reset,) = smtp.to("caseworker@example.org")
    link = next(iter(links(parts(reset)["text/plain"])))
    path = link.removeprefix(SITE)
    assert client.get(path).status_code == 200


def test_a_sender_under_a_chinese_domain_gives_message_ids_that_thread(
    smtp, settings, report, cast
):
    """Message-IDs name the sender's domain; one such as 政务.中国 is written as the From
    address is, in its ASCII form (xn--…): a msg-id has no encoded words, and one made of
    them breaks the case's thread and reads as forged to spam filters."""
    settings.DEFAULT_FROM_EMAIL = "网格化治理 <grid@政务.中国>"
    case = workflow.case_accept(case=report(), actor=cast.liaison)
    extensions.extension_request(
        case=case, actor=cast.liaison, reason="需要协调物业", extra_days=Decimal("2")
    )
    deliver_all()
    (asked,) = smtp.to("cg-boss@example.org")
    assert asked["From"].addresses[0].domain == "xn--zfr164b.xn--fiqs8s"
    # (Folded onto a line of its own when long, as RFC 5322 allows.)
    message_id = asked["Message-ID"].strip()
    assert re.fullmatch(r"<extension\.[0-9a-f]+@xn--zfr164b\.xn--fiqs8s>", message_id)
    thread = f"<case.{case.pk}@xn--zfr164b.xn--fiqs8s>"
    assert asked["In-Reply-To"].strip() == thread == asked["References"].strip()


def test_a_description_cut_short_in_an_escalation_says_it_goes_on(smtp, report, cast):
    """An email tells the first 1,000 characters of a description (4,000 at most): the
    reader is shown that there is more, on the case's page."""
    with time_machine.travel(at(11, 23, 10), tick=False):
        report(description="甲" * 999 + "乙" * 3000)
    call_command("escalate_overdue", "--now", "2026-11-23T12:00:00+08:00", stdout=StringIO())
    (told,) = smtp.to("cg-boss@example.org")
    for part in parts(told).values():
        assert "甲" * 999 + "…" in part
        assert "乙" not in part
