"""Emails write as the pages do in their reader's language (SPEC §6): dates and times in the
language's own format, never ISO; names joined with 、 and labels ending in ： in Chinese,
", " and ": " in English. Each email is rendered in the recipient's language."""

import re
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import timezone, translation
from django.utils.formats import date_format

from cases.models import OutboxMessage
from cases.services import extensions, workflow
from cases.services.escalation import escalation_sweep
from departments.models import User
from tests.cases.outbox_support import message_to
from tests.cases.test_i18n import compiled_catalogue  # noqa: F401 (a fixture)

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Monday 23 November 2026, 10:00: a working morning.
REPORTED_AT = datetime(2026, 11, 23, 10, tzinfo=SHANGHAI)
# What a person must not be shown: "2026-11-23 12:00" (case numbers, "2026-000001", pass).
ISO = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d")
CHINESE_DATETIME = re.compile(r"2026年11月\d{1,2}日 \d\d:\d\d")


@pytest.fixture
def whistled(report, cast, world):
    """A case led by the urban department with two assisting departments, accept deadline
    at 12:00 on the day it was reported."""
    with time_machine.travel(REPORTED_AT, tick=False):
        case = report(category=world.stall, cell=world.n2)  # overlap: into the pool
        workflow.case_dispatch(
            case=case,
            actor=cast.dispatcher,
            lead=world.urban,
            assisting=[world.market, world.housing],
            comment="城管牵头",
        )
    case.refresh_from_db()
    return case


def in_reader_format(moment, language, fmt="DATETIME_FORMAT") -> str:
    with translation.override(language):
        return date_format(timezone.localtime(moment), fmt)


def assert_no_iso(message: OutboxMessage):
    for part in (message.subject, message.text, message.html):
        assert not ISO.search(part), ISO.search(part).group(0)


def test_a_chinese_escalation_has_chinese_dates_names_and_labels(
    whistled,
    settings,
    compiled_catalogue,  # noqa: F811
):
    settings.LANGUAGE_CODE = "zh-hans"  # cg-boss@ is no user: the site's language
    escalation_sweep(now=whistled.due_at + timedelta(minutes=30))
    message = message_to("cg-boss@example.org")
    cell = whistled.cell
    assert f"{cell.name}（{cell.code}）" in message.text  # full-width, as the pages write it
    deadline = in_reader_format(whistled.due_at, "zh-hans")
    assert CHINESE_DATETIME.fullmatch(deadline)
    for part in (message.text, message.html):
        assert deadline in part
        assert "市场监管局、住建局" in part
    # The latest steps in the deadline's format: one way of writing a moment per email.
    dispatched = in_reader_format(REPORTED_AT, "zh-hans")
    assert f"- {dispatched} 已派遣（Dispatcher）：城管牵头\n" in message.text
    assert "签收此督办</a>（无需登录；链接有效期 14 天）" in message.html
    assert f"案件：{whistled.number}\n" in message.text
    assert f"期限：受理，{deadline}\n" in message.text
    assert "最近处理记录：\n" in message.text
    assert "： " not in message.text and ": " not in message.text.split("https://")[0]
    assert_no_iso(message)


def test_an_english_escalation_keeps_commas_and_english_dates(whistled, settings):
    settings.LANGUAGE_CODE = "en"
    escalation_sweep(now=whistled.due_at + timedelta(minutes=30))
    message = message_to("cg-boss@example.org")
    deadline = in_reader_format(whistled.due_at, "en")
    for part in (message.text, message.html):
        assert "市场监管局, 住建局" in part and "、" not in part
        assert f"accept, {deadline}" in part
    assert f"Case: {whistled.number}\n" in message.text
    dispatched = in_reader_format(REPORTED_AT, "en")
    assert f"- {dispatched} dispatched (Dispatcher): 城管牵头\n" in message.text
    assert "this escalation</a> (no sign-in needed; the link is valid for 14 days)" in message.html
    assert "Latest steps:\n" in message.text
    assert_no_iso(message)


def test_a_chinese_reminder_has_chinese_dates_and_names(
    whistled,
    cast,
    compiled_catalogue,  # noqa: F811
):
    User.objects.filter(pk=cast.liaison.pk).update(language="zh-hans")
    escalation_sweep(now=whistled.due_at - timedelta(minutes=20))
    message = message_to("liaison@example.org")
    assert message.kind == "reminder"
    deadline = in_reader_format(whistled.due_at, "zh-hans")
    for part in (message.text, message.html):
        assert deadline in part and "市场监管局、住建局" in part
    assert_no_iso(message)


def test_a_chinese_extension_request_and_decision_have_chinese_dates(
    report,
    cast,
    compiled_catalogue,  # noqa: F811
):
    User.objects.filter(pk__in=[cast.supervisor.pk, cast.liaison.pk]).update(language="zh-hans")
    cast.liaison.refresh_from_db()
    with time_machine.travel(REPORTED_AT, tick=False):
        case = workflow.case_accept(case=report(), actor=cast.liaison)
        request = extensions.extension_request(
            case=case, actor=cast.liaison, reason="需要协调物业", extra_days=Decimal(2)
        )
    asked = OutboxMessage.objects.get(kind="extension", to="supervisor@example.org")
    due = in_reader_format(request.old_due_at, "zh-hans")
    assert CHINESE_DATETIME.fullmatch(due)
    for part in (asked.text, asked.html):
        assert due in part
        assert "理由：需要协调物业" in part
    assert_no_iso(asked)
    with time_machine.travel(REPORTED_AT + timedelta(hours=1), tick=False):
        extensions.extension_decide(
            request=request, approve=True, actor=cast.supervisor, note="同意"
        )
    request.refresh_from_db()
    told = OutboxMessage.objects.get(kind="extension-decision")
    new_due = in_reader_format(request.new_due_at, "zh-hans")
    for part in (told.text, told.html):
        assert new_due in part and "说明：同意" in part
    assert_no_iso(told)


def test_an_english_extension_request_has_english_dates(report, cast, settings):
    settings.LANGUAGE_CODE = "en"
    with time_machine.travel(REPORTED_AT, tick=False):
        case = workflow.case_accept(case=report(), actor=cast.liaison)
        request = extensions.extension_request(
            case=case, actor=cast.liaison, reason="more time", extra_days=Decimal(2)
        )
    asked = OutboxMessage.objects.get(kind="extension", to="cg-boss@example.org")
    due = in_reader_format(request.old_due_at, "en")
    assert f"now due {due}." in asked.text and "Reason: more time" in asked.text
    assert_no_iso(asked)
