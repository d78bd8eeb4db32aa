"""A deadline at the end of the working day is swept in the evening, when working time does
not run: the escalation must not say "overdue by 0 minutes" but that the deadline has just
passed, in the email's subject and body, the command's report and the admin's column."""

from datetime import datetime, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.admin.sites import site
from django.core.management import call_command
from django.utils import translation

from cases.models import Case
from cases.services.escalation import escalation_sweep
from cases.time_words import deadline_just_passed
from tests.cases.outbox_support import message_to
from tests.cases.test_i18n import compiled_catalogue  # noqa: F401 (a fixture)

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Monday 23 November 2026: reported at 15:00, its 2 working hours to accept end at 17:00.
REPORTED_AT = datetime(2026, 11, 23, 15, tzinfo=SHANGHAI)
EVENING = datetime(2026, 11, 23, 19, 30, tzinfo=SHANGHAI)


@pytest.fixture
def due_at_five(report):
    with time_machine.travel(REPORTED_AT, tick=False):
        case = report()
    assert case.due_at == datetime(2026, 11, 23, 17, tzinfo=SHANGHAI)
    return case


def test_less_than_a_minute_of_working_time_is_just_passed():
    assert deadline_just_passed(0) and deadline_just_passed(59.9)
    assert not deadline_just_passed(60)


def test_an_evening_escalation_says_the_deadline_has_just_passed(due_at_five, settings):
    settings.LANGUAGE_CODE = "en"
    escalation_sweep(now=EVENING)
    message = message_to("cg-boss@example.org")
    number = due_at_five.number
    assert (
        message.subject == f"[{number}] Level 1 escalation: overdue, the deadline has just passed"
    )
    sentence = (
        f"Case {number} is overdue: its deadline has just passed, with no working time run"
        " since, and it has been escalated to level 1."
    )
    assert message.text.startswith(sentence + "\n")
    assert sentence in message.html
    for part in (message.subject, message.text, message.html):
        assert "0 minutes" not in part and "overdue by" not in part
    # SPEC §4 still holds: level, owner, links to the case and to acknowledge it.
    assert "Owner: 城管局" in message.text
    assert f"/cases/{number}/" in message.text and "/escalations/ack/" in message.text


def test_a_minute_later_in_working_time_it_is_overdue_by_a_minute(due_at_five, settings):
    settings.LANGUAGE_CODE = "en"
    escalation_sweep(now=datetime(2026, 11, 24, 9, 1, tzinfo=SHANGHAI))
    message = message_to("cg-boss@example.org")
    assert message.subject.endswith("Level 1 escalation: overdue by 1 minute of working time")


def test_a_chinese_evening_escalation_says_it_is_just_due(
    due_at_five,
    settings,
    compiled_catalogue,  # noqa: F811
):
    settings.LANGUAGE_CODE = "zh-hans"
    escalation_sweep(now=EVENING)
    message = message_to("cg-boss@example.org")
    number = due_at_five.number
    assert message.subject == f"[{number}] 1 级督办：已超期，刚过期限"
    assert message.text.startswith(
        f"案件 {number} 已超期：刚过期限，此后尚未经过工作时间，已升级为 1 级督办。\n"
    )
    assert "0 分钟" not in message.text and "0 分钟" not in message.html


def test_the_command_says_the_deadline_has_just_passed(due_at_five):
    out = StringIO()
    call_command("escalate_overdue", "--now", EVENING.isoformat(), "--dry-run", stdout=out)
    assert (
        f"{due_at_five.number} accept level 1, overdue, the deadline has just passed;"
        in out.getvalue()
    )
    assert "0 minutes" not in out.getvalue()


def test_the_command_says_it_in_chinese(
    due_at_five,
    settings,
    compiled_catalogue,  # noqa: F811
):
    settings.LANGUAGE_CODE = "zh-hans"
    out = StringIO()
    call_command("escalate_overdue", "--now", EVENING.isoformat(), "--dry-run", stdout=out)
    assert f"{due_at_five.number} 受理 1 级，已超期，刚过期限；" in out.getvalue()


def test_the_admin_column_says_the_deadline_has_just_passed(due_at_five):
    case_admin = site._registry[Case]
    with time_machine.travel(EVENING, tick=False), translation.override("en"):
        assert case_admin.time_left(due_at_five) == "overdue, the deadline has just passed"
    with time_machine.travel(EVENING + timedelta(hours=14), tick=False):  # 09:30 next day
        assert case_admin.time_left(due_at_five) == "overdue by 30 minutes"


def test_less_than_a_minute_left_is_not_told_as_no_time_left(due_at_five, settings):
    # Half a minute before the deadline, "0 minutes of working time left" read as none.
    settings.LANGUAGE_CODE = "en"
    case_admin = site._registry[Case]
    before = datetime(2026, 11, 23, 16, 59, 30, tzinfo=SHANGHAI)
    with time_machine.travel(before, tick=False), translation.override("en"):
        assert case_admin.time_left(due_at_five) == "less than a minute left"
    escalation_sweep(now=before)
    message = message_to("liaison@example.org")
    assert message.subject == (
        f"[{due_at_five.number}] Due soon: less than a minute of working time left"
    )
