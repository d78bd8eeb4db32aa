"""Reporters' personal data (issue 8.6): masked in emails, exports, logs and for roles that
do not call reporters back; every unmasked view logged; forgotten after the retention
period; never in URLs."""

import csv
import io
import logging
import random
import re
import sys
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.http import QueryDict
from django.urls import reverse
from openpyxl import load_workbook

from cases import privacy
from cases.models import CaseEvent, OutboxMessage, PersonalDataAccess, State
from cases.privacy import (
    can_see_personal_data,
    could_probe_contacts,
    mask_contacts,
    mask_name,
    mask_phone,
    mask_phones,
)
from cases.services import workflow
from cases.services.escalation import escalation_sweep
from cases.services.outbox.sending import deliver
from cases.services.privacy import reporters_anonymise
from cases.signed_links import mask_tokens
from tests.logs import configured_console

NAME, PHONE = "王小明", "13812345678"
MASKED_NAME, MASKED_PHONE = "王**", "138****5678"
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def case(report):
    return report(reporter_name=NAME, reporter_phone=PHONE)


def closed(case, cast):
    workflow.case_accept(case=case, actor=cast.liaison)
    workflow.case_resolve(case=case, actor=cast.liaison, note="已清理")
    workflow.case_verify(case=case, actor=cast.caseworker)
    return case


def test_masks_keep_only_what_identifies_nobody():
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("+86 138 1234 5678") == "138****5678"
    assert mask_phone("021-6234 5678") == "021****5678"
    assert mask_phone("6234567") == "***4567"
    assert mask_name("王小明") == "王**"
    assert mask_name("Li Wei") == "L* W**"
    assert mask_name("") == ""
    assert mask_phones("请致电 13812345678 或 021-62345678") == "请致电 138****5678 或 021****5678"


def test_landlines_are_masked_however_their_digits_are_grouped():
    """The phone field takes "(010) 6552-9988": reporters write the same in descriptions."""
    assert mask_phones("电话 010-6552-9988") == "电话 010****9988"
    assert mask_phones("（010）6552-9988 找王先生") == "010****9988 找王先生"
    assert mask_phones("(021) 6234 5678") == "021****5678"
    assert mask_phones("0571 8765 4321") == "057*****4321"


def test_logs_keep_the_ids_they_are_searched_by():
    """Sweep and task ids (UUIDs, with or without hyphens) and case numbers past the
    millionth of a year hold seven digits in a row: they are not phone numbers."""
    sweep_id = "18a7f89c-ffdb-4654-a1ec-1014e8483406"
    text = f"sweep {sweep_id} ({uuid.UUID(sweep_id).hex}) case 2026-1000000 13812345678"

    assert mask_phones(text) == (
        f"sweep {sweep_id} ({uuid.UUID(sweep_id).hex}) case 2026-1000000 138****5678"
    )
    assert mask_phones("call 0571-12345678 or 1991-2345678") == "call 057*****5678 or 1991-***5678"


@pytest.mark.parametrize(
    ("written", "masked"),
    [
        ("138.1234.5678", "138****5678"),
        ("0571.8765.4321", "057*****4321"),
        ("138\u20131234\u20135678", "138****5678"),  # en dash
        ("138\u20141234\u20145678", "138****5678"),  # em dash
        ("138\u22121234\u22125678", "138****5678"),  # minus
        ("138\uff0d1234\uff0d5678", "138****5678"),  # full-width hyphen
        ("138\u20101234\u20105678", "138****5678"),  # hyphen
        ("0571\u20138765\u20134321", "057*****4321"),
        ("１３８１２３４５６７８", "138****5678"),
        ("＋８６ １３８ １２３４ ５６７８", "138****5678"),
        ("（０１０）６５５２－９９８８", "010****9988"),
        ("（０１０）6552-9988", "010****9988"),
        ("138\u00a01234\u00a05678", "138****5678"),  # no-break spaces
        ("138\u30001234\u30005678", "138****5678"),  # ideographic spaces
        ("+86 10 6552 9988", "861*****9988"),  # a landline written from abroad
        ("+86-571-8765-4321", "571****4321"),
        ("＋８６（１０）６５５２９９８８", "861*****9988"),
        ("6552-9988", "****9988"),  # a city's landline without its area code
        ("6552 9988", "****9988"),
        ("６５５２－９９８８", "****9988"),
        ("138 123 45678", "138****5678"),  # a mobile grouped 3-3-5
        ("138_1234_5678", "138****5678"),  # underscores, where spaces are not allowed
        ("+86_138_1234_5678", "138****5678"),
    ],
)
def test_numbers_grouped_by_dots_or_any_dash_or_in_full_width_digits_are_masked(written, masked):
    """As people type them: with an input method's full-width digits, or dashes a word
    processor or a phone's keyboard put in."""
    assert mask_phones(f"请致电 {written} 找王先生") == f"请致电 {masked} 找王先生"
    assert mask_phone(written) == masked


def test_dates_times_amounts_coordinates_versions_and_ids_are_left_as_written():
    texts = [
        "案件 2026-000123",
        "sweep 18a7f89c-ffdb-4654-a1ec-1014e8483406",
        "2026-12-05、2026.12.05、2026年12月5日",
        "09:00-17:00，9:00\u201317:00",
        "1.5 吨、300.00 元、1,200.50 元、1234567.50 元",
        "120.15507, 30.27408",
        "120.1550712, 30.2740812",  # a GPS's seven decimals
        "版本 1.2.3",
        "succeeded in 0.0123456789s",  # a Celery timing in the logs: no landline
        "2019-2020 年度、2025\u20132026 学年",  # ranges of years: no landline
        "见附件 IMG_2019_0304.jpg",  # a file name's underscores: no landline
    ]
    assert [mask_contacts(text) for text in texts] == texts


def test_a_number_among_dates_and_amounts_is_masked_and_they_are_not():
    text = "2026.12.05 9:00\u201317:00 上门，押金 300.00 元，请拨 138.1234.5678"
    assert (
        mask_contacts(text) == "2026.12.05 9:00\u201317:00 上门，押金 300.00 元，请拨 138****5678"
    )


def test_an_email_with_a_full_width_at_is_masked_and_probes_as_one():
    assert mask_contacts("请回邮件 zhang＠example.org") == "请回邮件 z****＠example.org"
    assert mask_contacts("请回邮件 zhang＠example．org") == "请回邮件 z****＠example．org"
    # An input method in Chinese mode types the ideographic full stop for the dot.
    assert mask_contacts("邮箱 wang@163。com，谢谢") == "邮箱 w***@163。com，谢谢"
    # The same mark ending a sentence after an @-mention is no address.
    for text in ("已通知@王科长。明天处理", "联系人：张三@街道办。电话见附件"):
        assert mask_contacts(text) == text
    assert could_probe_contacts("zhang＠") and could_probe_contacts("１３８１")
    assert not could_probe_contacts("回电")


def test_masking_a_long_text_of_digits_dots_and_dashes_finishes():
    """No catastrophic backtracking (cases/privacy.py): a pattern tried at every position
    of one long run once took minutes on this, where a text of this size takes a moment."""
    text = "".join(random.Random(8).choices("0123456789.-", k=100_000))
    masked = mask_contacts(text)
    assert "*" in masked and len(masked) <= len(text)


@pytest.mark.django_db
def test_only_township_staff_of_the_case_and_admins_see_the_real_contact(case, cast):
    allowed = {name for name in vars(cast) if can_see_personal_data(getattr(cast, name), case)}
    assert allowed == {"caseworker", "dispatcher", "admin"}


@pytest.mark.django_db
def test_the_case_page_shows_the_caseworker_the_number_and_logs_it(client, case, cast):
    client.force_login(cast.dispatcher)
    page = client.get(reverse("cases:detail", args=[case.number])).content.decode()
    assert PHONE in page and NAME in page
    access = PersonalDataAccess.objects.get()
    assert (access.user, access.case, access.purpose) == (cast.dispatcher, case, "view")
    assert access.path == f"/cases/{case.number}/"


@pytest.mark.parametrize("who", ["liaison", "supervisor", "district_supervisor"])
@pytest.mark.django_db
def test_the_case_page_masks_the_reporter_for_departments_and_supervisors(client, case, cast, who):
    client.force_login(getattr(cast, who))
    page = client.get(reverse("cases:detail", args=[case.number])).content.decode()
    assert PHONE not in page and NAME not in page
    assert MASKED_PHONE in page and MASKED_NAME in page
    assert not PersonalDataAccess.objects.exists()


@pytest.mark.django_db
def test_the_admin_masks_the_reporter_for_a_liaison_and_logs_the_admins_view(client, case, cast):
    url = reverse("admin:cases_case_change", args=[case.pk])
    client.force_login(cast.liaison)
    page = client.get(url).content.decode()
    assert PHONE not in page and MASKED_PHONE in page
    assert not PersonalDataAccess.objects.exists()
    client.force_login(cast.admin)
    page = client.get(url).content.decode()
    assert PHONE in page
    assert PersonalDataAccess.objects.get().purpose == "admin"


@pytest.mark.django_db
def test_the_case_page_shows_what_an_open311_client_sent_masked_as_contacts_are(
    client, cast, world
):
    from cases.models import Case
    from cases.services.apikeys import api_key_create

    _key, raw = api_key_create(name="12345 热线")
    client.post(
        "/open311/v2/requests.json",
        {
            "api_key": raw,
            "service_code": world.rubbish.code,
            "address_id": "N-01",
            "email": "zhang@example.org",
            "account_id": "wx-778899",
            "media_url": "https://example.org/rubbish.jpg",
        },
    )
    case = Case.objects.get()
    url = reverse("cases:detail", args=[case.number])

    client.force_login(cast.caseworker)  # calls reporters back
    text = client.get(url).text
    assert "12345 热线" in text and "zhang@example.org" in text and "wx-778899" in text
    assert 'href="https://example.org/rubbish.jpg"' in text
    access = PersonalDataAccess.objects.get()
    assert (access.user, access.case, access.fields) == (cast.caseworker, case, "email,account_id")

    client.force_login(cast.liaison)  # the department works without
    text = client.get(url).text
    assert "z****@example.org" in text and "zhang@" not in text and "wx-778899" not in text
    assert 'href="https://example.org/rubbish.jpg"' in text
    assert PersonalDataAccess.objects.count() == 1


def test_exports_never_carry_the_reporters_contact(client, case, cast):
    client.force_login(cast.admin)
    response = client.get(reverse("cases:export_csv"))
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    assert case.number in text
    assert PHONE not in text and NAME not in text
    workbook = load_workbook(io.BytesIO(client.get(reverse("cases:export_xlsx")).content))
    cells = [str(c) for row in workbook.active.iter_rows(values_only=True) for c in row]
    assert case.number in cells and PHONE not in " ".join(cells)
    admin_csv = client.post(
        reverse("admin:cases_case_changelist"),
        {"action": "export_csv", "_selected_action": [case.pk]},
    )
    body = b"".join(admin_csv.streaming_content).decode("utf-8-sig")
    assert any(case.number in row for row in csv.reader(io.StringIO(body)))
    assert PHONE not in body and NAME not in body


CALL_BACK = f"请回电 {PHONE} 或 zhang@example.org"


def exported_descriptions(client) -> dict[str, str]:
    """What each export says a case's description is: the page's CSV and XLSX, the admin's
    CSV (every visible case selected)."""
    from cases.models import Case

    csv_text = b"".join(client.get(reverse("cases:export_csv")).streaming_content)
    xlsx = load_workbook(io.BytesIO(client.get(reverse("cases:export_xlsx")).content))
    xlsx_rows = list(xlsx.active.iter_rows(values_only=True))
    every = list(Case.objects.values_list("pk", flat=True))
    admin_csv = client.post(
        reverse("admin:cases_case_changelist"),
        {"action": "export_csv", "_selected_action": every},
    )
    admin_text = b"".join(admin_csv.streaming_content)
    return {
        "csv": list(csv.reader(io.StringIO(csv_text.decode("utf-8-sig"))))[1][-1],
        "xlsx": xlsx_rows[1][-1],
        "admin csv": next(csv.DictReader(io.StringIO(admin_text.decode("utf-8-sig"))))[
            "description"
        ],
    }


@pytest.mark.django_db
def test_a_number_in_the_description_is_masked_for_those_who_see_the_reporter_masked(
    client, report, cast
):
    case = report(description=CALL_BACK)
    masked = f"请回电 {MASKED_PHONE} 或 z****@example.org"
    client.force_login(cast.liaison)
    page = client.get(reverse("cases:detail", args=[case.number])).text
    assert PHONE not in page and "zhang@" not in page and masked in page
    admin_page = client.get(reverse("admin:cases_case_change", args=[case.pk])).text
    assert PHONE not in admin_page and masked in admin_page
    assert exported_descriptions(client) == dict.fromkeys(["csv", "xlsx", "admin csv"], masked)
    client.force_login(cast.supervisor)  # the pool is open to supervisors too
    workflow.case_return(case=case, actor=cast.liaison, reason="不属于城管")
    pool = client.get(reverse("cases:fallback")).text
    assert case.number in pool and PHONE not in pool and MASKED_PHONE in pool


@pytest.mark.django_db
def test_those_who_call_reporters_back_read_the_description_as_written(client, report, cast):
    case = report(description=CALL_BACK)
    client.force_login(cast.dispatcher)
    assert CALL_BACK in client.get(reverse("cases:detail", args=[case.number])).text
    client.force_login(cast.admin)
    assert CALL_BACK in client.get(reverse("admin:cases_case_change", args=[case.pk])).text
    assert exported_descriptions(client) == dict.fromkeys(["csv", "xlsx", "admin csv"], CALL_BACK)


@pytest.mark.django_db
def test_escalation_emails_mask_the_reporter(report, cast, mailoutbox):
    monday = datetime(2026, 11, 23, 10, tzinfo=SHANGHAI)
    with time_machine.travel(monday, tick=False):
        case = report(reporter_name=NAME, reporter_phone=PHONE, description=f"请回电 {PHONE}")
    escalation_sweep(now=monday + timedelta(hours=3))
    pending = list(OutboxMessage.objects.filter(case=case))
    assert pending, "the overdue case was escalated by email"
    # Delivered as the worker delivers them (to Django's in-memory mailbox here).
    for message in pending:
        assert deliver(message_pk=message.pk).outcome == "sent"
    assert len(mailoutbox) == len(pending)
    for sent in mailoutbox:
        parts = [sent.subject, sent.body, *(content for content, _type in sent.alternatives)]
        for part in parts:
            assert PHONE not in part and NAME not in part
        assert MASKED_PHONE in sent.body


def test_log_lines_never_carry_a_phone_number():
    handler, buffer = configured_console()
    logger = logging.getLogger("tests.privacy.logging")
    logger.addHandler(handler)
    logger.propagate = False
    # Whatever level an earlier test (a Celery test worker) left on the root logger.
    logger.setLevel(logging.INFO)
    disabled = logging.root.manager.disable
    logging.disable(logging.NOTSET)
    try:
        logger.warning("Could not reach %s about %s", PHONE, "2026-000001")
        try:
            raise ValueError(f"bad number {PHONE}")
        except ValueError:
            logger.exception("failed")
    finally:
        logging.disable(disabled)
        logger.removeHandler(handler)
    written = buffer.getvalue()
    assert MASKED_PHONE in written and "2026-000001" in written and "ValueError" in written
    assert PHONE not in written


@pytest.mark.django_db
def test_the_report_form_never_puts_the_contact_in_a_url(client, cast, world):
    client.force_login(cast.caseworker)
    response = client.post(
        reverse("cases:new"),
        {
            "category": world.rubbish.pk,
            "cell": world.n1.pk,
            "description": "垃圾",
            "urgency": "normal",
            "reporter_name": NAME,
            "reporter_phone": PHONE,
            "confirm_new": "on",
        },
    )
    assert response.status_code == 302
    assert PHONE not in response["Location"] and NAME not in response["Location"]


@pytest.mark.django_db
def test_reporters_of_cases_closed_longer_than_the_retention_are_forgotten(report, cast, settings):
    settings.REPORTER_RETENTION_DAYS = 30
    start = datetime(2026, 1, 5, 10, tzinfo=SHANGHAI)
    with time_machine.travel(start, tick=False):
        old = closed(report(reporter_name=NAME, reporter_phone=PHONE), cast)
        old_open = report(reporter_name=NAME, reporter_phone=PHONE)
    with time_machine.travel(start + timedelta(days=25), tick=False):
        recent = closed(report(reporter_name=NAME, reporter_phone=PHONE), cast)
    later = start + timedelta(days=40)

    dry = reporters_anonymise(now=later, dry_run=True)
    assert dry.numbers == [old.number]
    old.refresh_from_db()
    assert old.reporter_phone == PHONE, "a dry run changes nothing"

    version = old.version
    assert reporters_anonymise(now=later).numbers == [old.number]
    for case, kept in ((old, False), (old_open, True), (recent, True)):
        case.refresh_from_db()
        assert (case.reporter_name == NAME, case.reporter_phone == PHONE) == (kept, kept)
    assert old.version == version + 1
    event = CaseEvent.objects.get(case=old, action="anonymise")
    assert event.actor_label == "system" and event.to_state == ""
    assert old.state == State.CLOSED
    # Again: nothing left to do, no second audit row.
    assert reporters_anonymise(now=later).numbers == []
    assert CaseEvent.objects.filter(action="anonymise").count() == 1


@pytest.mark.django_db
def test_what_an_open311_client_posted_about_the_reporter_is_forgotten_too(report, cast, settings):
    from cases.models import ApiRequest
    from cases.services.apikeys import api_key_create

    settings.REPORTER_RETENTION_DAYS = 30
    key, _raw = api_key_create(name="12345 hotline")
    start = datetime(2026, 1, 5, 10, tzinfo=SHANGHAI)
    with time_machine.travel(start, tick=False):
        case = closed(report(), cast)  # no name or phone: only the posted contact
        ApiRequest.objects.create(
            api_key=key, case=case, service_code="ENV-RUBBISH", email="a@example.org",
            device_id="phone-1", account_id="acc-9", media_url="https://example.org/a.jpg",
        )  # fmt: skip

    assert reporters_anonymise(now=start + timedelta(days=40)).numbers == [case.number]
    posted = ApiRequest.objects.get(case=case)
    assert (posted.email, posted.device_id, posted.account_id) == ("", "", "")
    assert posted.media_url == "https://example.org/a.jpg"  # the problem's photo, not a contact
    event = CaseEvent.objects.get(case=case, action="anonymise")
    assert "email" in event.data["fields"] and "account_id" in event.data["fields"]


@pytest.mark.django_db
def test_the_anonymise_command_reports_what_it_did(report, cast, settings):
    settings.REPORTER_RETENTION_DAYS = 30
    with time_machine.travel(datetime(2026, 1, 5, 10, tzinfo=SHANGHAI), tick=False):
        case = closed(report(reporter_name=NAME, reporter_phone=PHONE), cast)
    out = io.StringIO()
    call_command(
        "anonymise_reporters", "--dry-run", "--now", "2026-03-01T10:00:00+08:00", stdout=out
    )
    assert f"Would anonymise {case.number}" in out.getvalue()
    case.refresh_from_db()
    assert case.reporter_phone == PHONE
    out = io.StringIO()
    call_command("anonymise_reporters", "--now", "2026-03-01T10:00:00+08:00", stdout=out)
    assert "Anonymised the reporters of 1 case closed more than 30 days ago." in out.getvalue()
    case.refresh_from_db()
    assert (case.reporter_name, case.reporter_phone) == ("", "")


@pytest.mark.django_db
def test_the_anonymise_command_speaks_the_language_of_the_site(settings):
    settings.LANGUAGE_CODE = "zh-hans"  # what a command speaks
    settings.REPORTER_RETENTION_DAYS = 30
    out = io.StringIO()
    call_command("anonymise_reporters", "--dry-run", stdout=out)
    assert "将匿名化 0 个结案超过 30 天的案件的报告人信息。" in out.getvalue()
    with pytest.raises(CommandError, match="不是 ISO-8601 日期时间"):
        call_command("anonymise_reporters", "--now", "yesterday", stdout=io.StringIO())


@pytest.mark.django_db
def test_beat_runs_the_anonymisation_daily_through_a_registered_task(report, cast, settings):
    from cases.tasks import anonymise_reporters
    from governance.celery import app

    app.loader.import_default_modules()
    entry = settings.CELERY_BEAT_SCHEDULE["anonymise-reporters"]
    assert entry["task"] in app.tasks and entry["schedule"] == 86400
    settings.REPORTER_RETENTION_DAYS = 30
    with time_machine.travel(datetime(2026, 1, 5, 10, tzinfo=SHANGHAI), tick=False):
        case = closed(report(reporter_name=NAME, reporter_phone=PHONE), cast)
    with time_machine.travel(datetime(2026, 3, 1, 10, tzinfo=SHANGHAI), tick=False):
        assert anonymise_reporters() == 1
    case.refresh_from_db()
    assert case.reporter_phone == ""


@pytest.mark.django_db
def test_numbers_in_notes_and_comments_are_masked_as_the_description_is(client, report, cast):
    from cases.services.notes import case_add_note

    case = report()
    case_add_note(case=case, author=cast.caseworker, text=CALL_BACK)
    workflow.case_accept(case=case, actor=cast.liaison)
    workflow.case_resolve(case=case, actor=cast.liaison, note=f"已处理，{CALL_BACK}")
    detail = reverse("cases:detail", args=[case.number])
    client.force_login(cast.liaison)
    page = client.get(detail).text
    assert PHONE not in page and "zhang@" not in page
    assert page.count(MASKED_PHONE) >= 3  # the note, the resolution, the timeline's row
    client.force_login(cast.caseworker)  # who calls the reporter back
    assert client.get(detail).text.count(PHONE) >= 3


@pytest.mark.django_db
def test_a_return_reason_and_a_dispatch_comment_are_masked_where_the_case_is_routed(
    client, report, cast, world
):
    """The routing section of the case page and the pool page quote them."""
    case = report()
    workflow.case_return(case=case, actor=cast.liaison, reason=f"不属于城管，{CALL_BACK}")
    pages = {"pool": reverse("cases:fallback"), "case": reverse("cases:detail", args=[case.number])}
    client.force_login(cast.supervisor)
    for where, url in pages.items():
        page = client.get(url).text
        assert PHONE not in page and f"不属于城管，请回电 {MASKED_PHONE}" in page, where
    client.force_login(cast.dispatcher)  # who calls the reporter back
    for where, url in pages.items():
        assert f"不属于城管，{CALL_BACK}" in client.get(url).text, where
    workflow.case_dispatch(case=case, actor=cast.dispatcher, lead=world.market, comment=CALL_BACK)
    client.force_login(cast.other_liaison)
    page = client.get(pages["case"]).text
    assert PHONE not in page and f"“请回电 {MASKED_PHONE}" in page


def audit_trail_as_seen(client, case) -> dict[str, str]:
    """Every admin page and export that shows a case's audit comments, as one user reads
    them: the case's timeline inline, its audit trail, the audit list, an audit row's page
    and the audit CSV."""
    event = case.events.get(action="resolve")
    export = client.post(
        reverse("admin:cases_caseevent_changelist"),
        {"action": "export_csv", "_selected_action": [event.pk]},
    )
    return {
        "timeline": client.get(reverse("admin:cases_case_change", args=[case.pk])).text,
        "history": client.get(reverse("admin:cases_case_history", args=[case.pk])).text,
        "audit list": client.get(reverse("admin:cases_caseevent_changelist")).text,
        "audit row": client.get(reverse("admin:cases_caseevent_change", args=[event.pk])).text,
        "audit csv": b"".join(export.streaming_content).decode("utf-8-sig"),
    }


@pytest.mark.django_db
def test_the_admin_masks_numbers_in_audit_comments_for_those_who_see_the_reporter_masked(
    client, case, cast
):
    workflow.case_accept(case=case, actor=cast.liaison)
    workflow.case_resolve(case=case, actor=cast.liaison, note=f"已电话联系 {PHONE}，已清理")
    client.force_login(cast.liaison)
    for where, text in audit_trail_as_seen(client, case).items():
        assert PHONE not in text and f"已电话联系 {MASKED_PHONE}" in text, where
    client.force_login(cast.admin)
    for where, text in audit_trail_as_seen(client, case).items():
        assert f"已电话联系 {PHONE}" in text, where


@pytest.mark.django_db
def test_searching_by_digits_never_tells_a_masked_reader_what_a_description_holds(
    client, report, cast
):
    """Matching "1381", then "13812", … against descriptions would give the masked digits
    away one at a time: digits and @ match only the texts the reader reads unmasked."""
    case = report(description=CALL_BACK, address="人民路 88 号")
    workflow.case_accept(case=case, actor=cast.liaison)
    workflow.case_resolve(case=case, actor=cast.liaison, note=f"已联系 {PHONE}")

    def found(user, search):
        client.force_login(user)
        pages = {
            "cases": client.get(reverse("cases:list"), {"q": search}).text,
            "admin cases": client.get(reverse("admin:cases_case_changelist"), {"q": search}).text,
            "admin audit": client.get(
                reverse("admin:cases_caseevent_changelist"), {"q": search}
            ).text,
        }
        return {where for where, page in pages.items() if case.number in page}

    every = {"cases", "admin cases", "admin audit"}
    assert found(cast.liaison, "13812") == set()
    assert found(cast.liaison, "zhang@") == set()
    assert found(cast.liaison, "回电") == {"cases", "admin cases"}  # words still match
    assert found(cast.liaison, case.number) == every  # and the number, and the address
    assert found(cast.liaison, "88") == {"cases", "admin cases"}
    assert found(cast.dispatcher, "13812") == {"cases"}  # the dispatcher calls back
    assert found(cast.admin, "13812") == every


@pytest.mark.django_db
def test_searching_by_digits_finds_a_masked_reader_the_texts_with_nothing_to_mask(
    client, report, cast
):
    """A cell's name or a house number has digits too: they match a description that holds
    no phone number or email, which the masked reader reads as it is."""
    plain = report(description="东站社区第1网格 3号楼前路灯不亮")
    with_phone = report(description=f"东站社区第1网格 路灯不亮，{CALL_BACK}")
    full_width = report(description="东站社区第１网格，联系１３８１２３４５６７８")
    many_digits = report(description="东站社区第1网格 12号楼3单元1401室漏水")  # 8 digits

    def found(user, search, where="cases:list"):
        client.force_login(user)
        page = client.get(reverse(where), {"q": search}).text
        return {
            case for case in (plain, with_phone, full_width, many_digits) if case.number in page
        }

    assert found(cast.liaison, "第1网格") == {plain}
    note = (
        "A search with digits, Latin letters or @ leaves out the descriptions and addresses"
        " holding a phone number"
    )
    listed = reverse("cases:list")
    assert note in client.get(listed, {"q": "第1网格"}).text  # the page says what it left out
    assert note not in client.get(listed, {"q": "路灯"}).text
    # A case number finds its case by the number, whatever masking leaves out.
    assert note not in client.get(listed, {"q": plain.number}).text
    assert note not in client.get(listed, {"q": f" {plain.number} "}).text
    assert note in client.get(listed, {"q": plain.number[:8]}).text  # a prefix may probe
    assert note in client.get(listed, {"q": "0571-12345678"}).text  # a landline's shape
    assert found(cast.liaison, "3号楼") == {plain}
    assert found(cast.liaison, "1381") == set()
    assert found(cast.liaison, "@example") == set()
    # The admin's search too.
    assert found(cast.liaison, "第1网格", "admin:cases_case_changelist") == {plain}
    assert found(cast.liaison, "1381", "admin:cases_case_changelist") == set()
    assert found(cast.admin, "第1网格", "admin:cases_case_changelist") == {
        plain,
        with_phone,
        many_digits,
    }
    assert found(cast.dispatcher, "第1网格") == {plain, with_phone, many_digits}
    client.force_login(cast.admin)
    assert note not in client.get(listed, {"q": "第1网格"}).text


def test_the_digit_class_for_the_database_is_pythons_digits():
    """The database's regular expression counts the digits Python's masks count."""
    digits = re.compile(privacy._digit_class())
    not_digits = re.compile(privacy._digit_class(negated=True))
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        assert (
            bool(digits.fullmatch(char)) is char.isdecimal() is not bool(not_digits.fullmatch(char))
        ), hex(code)


@pytest.mark.django_db
def test_filtering_by_digits_from_the_url_never_tells_a_masked_reader_what_a_text_holds(
    client, report, cast
):
    """The admin filters on a model's own fields from the URL: `description__contains=1381`
    would give the masked digits away as a search would."""
    case = report(description=CALL_BACK)
    workflow.case_accept(case=case, actor=cast.liaison)
    workflow.case_resolve(case=case, actor=cast.liaison, note=f"已联系 {PHONE}")
    probes = [
        (reverse("admin:cases_case_changelist"), "description__contains"),
        (reverse("admin:cases_case_changelist"), "description__icontains"),
        (reverse("admin:cases_caseevent_changelist"), "comment__contains"),
    ]
    client.force_login(cast.liaison)
    for url, lookup in probes:
        assert client.get(url, {lookup: "13812"}).status_code == 400, lookup
    client.force_login(cast.admin)
    for url, lookup in probes:
        assert case.number in client.get(url, {lookup: "13812"}).text, lookup


@pytest.mark.django_db
def test_the_admins_autocomplete_never_tells_a_masked_reader_what_a_description_holds(
    client, report, cast
):
    """It searches with the changelist's fields: digits match only what the reader reads
    unmasked there too."""
    case = report(description=CALL_BACK)
    autocomplete = reverse("admin:autocomplete")

    def found(user, term):
        client.force_login(user)
        answer = client.get(
            autocomplete,
            {"app_label": "cases", "model_name": "caseevent", "field_name": "case", "term": term},
        )
        return [row["text"] for row in answer.json()["results"]]

    assert found(cast.liaison, "13812") == []
    assert found(cast.liaison, "zhang@") == []
    assert found(cast.liaison, "回电") == [case.number]
    assert found(cast.admin, "13812") == [case.number]


def test_searching_letters_never_spells_out_a_masked_email_in_a_description(client, report, cast):
    """The mask keeps a mailbox's first letter and length ("w*******@example.org"): a
    search that matched the rest would give it away a letter at a time."""
    case = report(description="路灯不亮，请回邮件 wangfang@example.org")
    plain = report(description="路灯不亮 lamp broken")
    client.force_login(cast.supervisor)  # reads reporters' contacts masked
    page = client.get(reverse("cases:detail", args=[case.number])).text
    assert "wangfang@" not in page and "w*******@example.org" in page

    def found(search):
        text = client.get(reverse("cases:list"), {"q": search}).text
        return {each.number for each in (case, plain) if each.number in text}

    assert found("wa") == found("wangfang") == set()
    assert found("lamp") == {plain.number}  # a text with nothing masked still answers
    assert found("路灯") == {case.number, plain.number}


@pytest.mark.parametrize("name", ["django.security.csrf", "celery.app.trace", "cases.views"])
def test_no_log_line_carries_a_signed_links_token(name):
    """Whoever reads the logs must not act for a link's recipient: the root handler every
    logger (Django's, Celery's, ours) writes through withholds the tokens, phone masking
    included."""
    import logging

    from django.core import signing

    token = signing.dumps({"p": 12, "a": "boss@example.org"}, salt="t", compress=True)
    # LOGGING's console handler (pytest adds its own beside it).
    (handler,) = [h for h in logging.getLogger().handlers if type(h) is logging.StreamHandler]
    record = logging.getLogger(name).makeRecord(
        name,
        logging.WARNING,
        __file__,
        1,
        "Forbidden: %s (caller 13812345678, task %s)",
        (f"/accounts/invite/{token}/", f"ack({token!r})"),
        None,
    )
    assert handler.filter(record)
    line = handler.format(record)
    assert token not in line and token.rsplit(":", 1)[1] not in line
    assert "/accounts/invite/…/" in line and "ack('…')" in line
    assert "138****5678" in line


def test_no_log_line_carries_an_open311_api_key():
    """GeoReport v2 clients often send their key in the query string (`POST
    requests.json?api_key=…`), which the API takes: every request line logged carried it,
    and whoever read the log could post cases as the client."""
    key = "9fa5efe5.6E2EfhWuCk7t8IWr9eu7TaPpLKMNKyqC-uhQ9szsGow"
    handler, _buffer = configured_console()
    record = logging.getLogger("django.server").makeRecord(
        "django.server",
        logging.INFO,
        __file__,
        1,
        '"%s" %s %s',
        (f"POST /open311/v2/requests.json?api_key={key}&service_code=ENV HTTP/1.1", 200, 156),
        None,
    )
    assert handler.filter(record)
    line = handler.format(record)
    assert key not in line and key.split(".")[1] not in line
    assert "requests.json?api_key=…&service_code=ENV" in line


@pytest.mark.parametrize("name", ["api%5Fkey", "api%5fkey", "%61pi_key", "api_k%65y"])
def test_an_api_key_named_in_percent_encoding_is_withheld_too(name):
    # Django decodes the name, so the API takes the key: the log line must not carry it.
    key = "9fa5efe5.6E2EfhWuCk7t8IWr9eu7TaPpLKMNKyqC-uhQ9szsGow"
    assert QueryDict(f"{name}={key}")["api_key"] == key
    line = mask_tokens(f"POST /open311/v2/requests.json?{name}={key}&service_code=ENV")
    assert key not in line and f"requests.json?{name}=…&service_code=ENV" in line


@pytest.mark.django_db
def test_a_number_in_the_address_is_masked_and_searched_as_the_descriptions_are(
    client, report, cast
):
    """Callers give "幸福小区 3 栋，找王先生 138…" as the address as often as in the
    description (the public API masked it already): a liaison or supervisor reads it
    masked, in exports too, and neither a search nor a URL filter by digits tells them
    what it holds; an address with house and flat numbers only is still found by them."""
    case = report(address=f"幸福小区3栋，找王先生 {PHONE}")
    flat = report(address="人民路123号5栋1201室")
    client.force_login(cast.liaison)
    page = client.get(reverse("cases:detail", args=[case.number])).text
    assert PHONE not in page and f"幸福小区3栋，找王先生 {MASKED_PHONE}" in page
    admin_page = client.get(reverse("admin:cases_case_change", args=[case.pk])).text
    assert PHONE not in admin_page and MASKED_PHONE in admin_page
    csv_text = b"".join(client.get(reverse("cases:export_csv")).streaming_content).decode()
    assert case.number in csv_text and PHONE not in csv_text and MASKED_PHONE in csv_text
    workbook = load_workbook(io.BytesIO(client.get(reverse("cases:export_xlsx")).content))
    cells = " ".join(str(c) for row in workbook.active.iter_rows(values_only=True) for c in row)
    assert case.number in cells and PHONE not in cells and MASKED_PHONE in cells

    def found(user, search, where="cases:list"):
        client.force_login(user)
        page = client.get(reverse(where), {"q": search}).text
        return {found for found in (case, flat) if found.number in page}

    for where in ("cases:list", "admin:cases_case_changelist"):
        assert found(cast.liaison, "13812", where) == set(), where
        assert found(cast.liaison, "1201", where) == {flat}, where
        assert found(cast.liaison, "幸福小区", where) == {case}, where
        assert found(cast.admin, "13812", where) == {case}, where
    assert found(cast.dispatcher, "13812") == {case}  # the township's staff call back
    changelist = reverse("admin:cases_case_changelist")
    client.force_login(cast.liaison)
    assert client.get(changelist, {"address__contains": "13812"}).status_code == 400
    client.force_login(cast.dispatcher)
    page = client.get(reverse("cases:detail", args=[case.number])).text
    assert PHONE in page
