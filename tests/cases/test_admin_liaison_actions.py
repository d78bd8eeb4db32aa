"""Liaisons in the admin, beyond one case's page: bulk accept, CSV export, autocomplete,
filters, reporting for duty and resolving with photos; never on another department's case."""

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.admin import helpers
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from PIL import Image

from cases.admin import case_actions
from cases.models import CaseEvent, State
from cases.services import workflow
from departments.services import sync_role_groups
from tests.cases.test_i18n import compiled_catalogue  # noqa: F401 (a fixture)

CHANGELIST = "admin:cases_case_changelist"


@pytest.fixture
def lead_by(report, cast, world):
    def _lead_by(department, description="占道经营摊位", **dispatch):
        case = report(category=world.stall, description=description)
        return workflow.case_dispatch(case=case, actor=cast.dispatcher, lead=department, **dispatch)

    return _lead_by


@pytest.fixture
def own_cases(report):
    return [report(description=f"垃圾 {index}") for index in range(3)]


@pytest.fixture
def foreign_case(lead_by, world):
    return lead_by(world.market, description="市场监管局的案件")


def act_url(case, name):
    return reverse("admin:cases_case_act", args=[case.pk, name])


def messages_of(response):
    return [str(message) for message in get_messages(response.wsgi_request)]


def run_action(client, action, cases, **extra):
    return client.post(
        reverse(CHANGELIST),
        {"action": action, helpers.ACTION_CHECKBOX_NAME: [case.pk for case in cases], **extra},
        follow=action != "export_csv",
    )


def csv_rows(response):
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(body)))


def test_bulk_accept_accepts_each_selected_case_and_writes_audit_rows(client, cast, own_cases):
    client.force_login(cast.liaison)
    response = run_action(client, "accept_selected", own_cases)
    assert response.status_code == 200
    for case in own_cases:
        case.refresh_from_db()
        assert case.state == State.IN_PROGRESS
        assert case.events.filter(action="accept", actor=cast.liaison).exists()
    assert any("Accepted 3 cases" in text for text in messages_of(response))


def test_bulk_accept_reports_which_cases_failed_and_why(client, cast, own_cases):
    workflow.case_accept(case=own_cases[0], actor=cast.liaison)
    client.force_login(cast.liaison)
    response = run_action(client, "accept_selected", own_cases)
    texts = messages_of(response)
    assert any("Accepted 2 cases" in text for text in texts)
    assert any(own_cases[0].number in text and "cannot be given" in text for text in texts)


def test_bulk_accept_refuses_a_selection_bigger_than_one_request_takes(
    client, cast, own_cases, monkeypatch
):
    monkeypatch.setattr(case_actions, "ACCEPT_MAX_CASES", 2)
    client.force_login(cast.liaison)
    response = run_action(client, "accept_selected", own_cases[:1], select_across="1")
    assert response.status_code == 200
    assert [text for text in messages_of(response) if "Nothing was accepted" in text] == [
        "Nothing was accepted: more than 2 cases are selected, the most one action accepts. "
        "Narrow the list (the state, the dates) and accept it in parts."
    ]
    for case in own_cases:
        case.refresh_from_db()
        assert case.state == State.ASSIGNED
    # Within the limit, the same selection is accepted.
    response = run_action(client, "accept_selected", own_cases[:2])
    assert any("Accepted 2 cases" in text for text in messages_of(response))


def test_bulk_accept_with_another_departments_ids_changes_nothing_there(
    client, cast, own_cases, foreign_case
):
    client.force_login(cast.liaison)
    before = foreign_case.events.count()
    run_action(client, "accept_selected", [foreign_case])
    foreign_case.refresh_from_db()
    assert foreign_case.state == State.ASSIGNED
    assert foreign_case.events.count() == before


def test_bulk_accept_with_another_departments_ids_does_not_name_those_cases(
    client, cast, own_cases, foreign_case
):
    """An id typed into the form must not turn into another department's case number
    ("…: it changed meanwhile"): the liaison never saw that case."""
    client.force_login(cast.liaison)
    response = run_action(client, "accept_selected", [own_cases[0], foreign_case])
    texts = messages_of(response)
    # Counted, not named: the press does not seem to have done nothing to it.
    assert texts == [
        f"Accepted 1 case: {own_cases[0].number}",
        "1 selected case was not accepted: it is not in your list.",
    ]
    assert not any(foreign_case.number in text for text in texts)


def test_bulk_accept_refuses_a_case_the_liaison_only_assists(client, cast, lead_by, world):
    case = lead_by(world.market, assisting=[world.urban])
    client.force_login(cast.liaison)
    response = run_action(client, "accept_selected", [case])
    case.refresh_from_db()
    assert case.state == State.ASSIGNED
    assert any("may not" in text for text in messages_of(response))


def test_csv_export_contains_only_the_liaisons_cases_even_with_foreign_ids(
    client, cast, own_cases, foreign_case
):
    client.force_login(cast.liaison)
    response = run_action(client, "export_csv", [*own_cases, foreign_case])
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    numbers = {row["number"] for row in csv_rows(response)}
    assert numbers == {case.number for case in own_cases}


def test_csv_export_of_all_matching_cases_stays_in_scope(client, cast, own_cases, foreign_case):
    client.force_login(cast.liaison)
    response = run_action(client, "export_csv", own_cases[:1], select_across="1")
    numbers = {row["number"] for row in csv_rows(response)}
    assert numbers == {case.number for case in own_cases}


def test_audit_export_contains_only_visible_cases(client, cast, own_cases, foreign_case):
    client.force_login(cast.liaison)
    response = client.post(
        reverse("admin:cases_caseevent_changelist"),
        {
            "action": "export_csv",
            helpers.ACTION_CHECKBOX_NAME: list(CaseEvent.objects.values_list("pk", flat=True)),
        },
    )
    cases = {row["case"] for row in csv_rows(response)}
    assert cases == {case.number for case in own_cases}


def test_admin_exports_the_whole_audit_trail(client, cast, own_cases, foreign_case):
    client.force_login(cast.admin)
    response = client.post(
        reverse("admin:cases_caseevent_changelist"),
        {
            "action": "export_csv",
            "select_across": "1",
            helpers.ACTION_CHECKBOX_NAME: [CaseEvent.objects.first().pk],
        },
    )
    rows = csv_rows(response)
    assert len(rows) == CaseEvent.objects.count()
    assert {row["case"] for row in rows} == {c.number for c in [*own_cases, foreign_case]}


def test_an_admin_export_of_more_rows_than_one_csv_holds_is_refused_and_says_why(
    client, cast, own_cases, monkeypatch
):
    monkeypatch.setattr("cases.spreadsheets.EXPORT_MAX_ROWS", {"csv": 1, "xlsx": 1})
    client.force_login(cast.admin)
    too_many = "more than 1 rows match, the most one CSV export holds."

    cases = client.post(
        reverse(CHANGELIST),
        {"action": "export_csv", helpers.ACTION_CHECKBOX_NAME: [c.pk for c in own_cases]},
        follow=True,
    )
    audit = client.post(
        reverse("admin:cases_caseevent_changelist"),
        {"action": "export_csv", "select_across": "1", helpers.ACTION_CHECKBOX_NAME: [1]},
        follow=True,
    )

    for response in (cases, audit):
        assert response["Content-Type"].startswith("text/html")
        [said] = messages_of(response)
        assert said.startswith(f"Nothing was exported: {too_many}")
    assert csv_rows(run_action(client, "export_csv", own_cases[:1]))  # one fits


def test_the_audit_list_scopes_by_case_only_for_who_does_not_see_every_case(
    client, cast, own_cases, foreign_case
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    scoped = '"cases_caseevent"."case_id" IN (SELECT'
    seen = {}
    for user in (cast.admin, cast.district_supervisor, cast.liaison):
        sync_role_groups(users=[user])
        client.force_login(user)
        with CaptureQueriesContext(connection) as queries:
            response = client.get(reverse("admin:cases_caseevent_changelist"))
        assert response.status_code == 200
        seen[user.username] = (
            any(scoped in query["sql"] for query in queries),
            response.context["cl"].result_count,
        )
    everything = CaseEvent.objects.count()
    own = CaseEvent.objects.filter(case__in=own_cases).count()
    assert seen == {
        cast.admin.username: (False, everything),
        cast.district_supervisor.username: (False, everything),
        cast.liaison.username: (True, own),
    }


def test_admin_csv_times_are_in_the_sites_time_zone(client, cast, own_cases):
    client.force_login(cast.admin)
    case = own_cases[0]
    (row,) = csv_rows(run_action(client, "export_csv", [case]))
    assert row["created_at"].endswith("+08:00")
    assert datetime.fromisoformat(row["due_at"]) == case.due_at


def test_admin_csv_exports_never_turn_text_into_spreadsheet_formulas(client, cast, report):
    case = report(description='=HYPERLINK("http://evil.example","click")')
    workflow.case_return(case=case, actor=cast.liaison, reason="@SUM(1+1)")
    client.force_login(cast.admin)
    (row,) = csv_rows(run_action(client, "export_csv", [case]))
    assert row["description"] == '\'=HYPERLINK("http://evil.example","click")'
    response = client.post(
        reverse("admin:cases_caseevent_changelist"),
        {"action": "export_csv", helpers.ACTION_CHECKBOX_NAME: [case.events.last().pk]},
    )
    (event,) = csv_rows(response)
    assert event["comment"] == "'@SUM(1+1)"


def test_case_autocomplete_offers_only_the_liaisons_cases(client, cast, own_cases, foreign_case):
    client.force_login(cast.liaison)
    url = reverse("admin:autocomplete")
    params = {"app_label": "cases", "model_name": "caseevent", "field_name": "case"}
    response = client.get(url, {**params, "term": foreign_case.number})
    assert response.status_code == 200
    assert response.json()["results"] == []
    response = client.get(url, {**params, "term": ""})
    ids = {int(item["id"]) for item in response.json()["results"]}
    assert ids == {case.pk for case in own_cases}


def test_overdue_filter_and_time_left_column(client, cast, own_cases):
    client.force_login(cast.liaison)
    with time_machine.travel(own_cases[0].due_at + timedelta(days=3)):
        workflow.case_accept(case=own_cases[1], actor=cast.liaison)
        response = client.get(reverse(CHANGELIST), {"deadline": "overdue"})
        overdue = set(response.context["cl"].result_list)
        assert overdue == {own_cases[0], own_cases[2]}
        # Working time late, in working days: not "overdue 24.0 working h".
        assert re.search(r"overdue by \d+ days?\b", response.text)
        on_time = client.get(reverse(CHANGELIST), {"deadline": "on_time"})
        assert set(on_time.context["cl"].result_list) == {own_cases[1]}


def test_a_summoned_liaisons_time_left_column_tells_the_time_to_report_for_duty(
    client, cast, lead_by, world
):
    """The whistle gives the summoned department its own deadline to report for duty; the
    admin's column showed its liaison the lead's clock instead."""
    case = lead_by(world.market, assisting=[world.urban], whistle=True)
    client.force_login(cast.liaison)  # the urban department's, summoned
    response = client.get(reverse(CHANGELIST))
    assert re.search(r"Report for duty: [^<]* left", response.text)

    client.force_login(cast.other_liaison)  # the market department's, the lead
    lead_page = client.get(reverse(CHANGELIST))
    assert case in lead_page.context["cl"].result_list
    assert "Report for duty" not in lead_page.text


def time_left_order(response, descending=False):
    """The changelist's query string that sorts it by its "working time left" column."""
    columns = [
        getattr(column, "__name__", column) for column in response.context["cl"].list_display
    ]
    return {"o": f"{'-' if descending else ''}{columns.index('time_left')}"}


def test_a_summoned_liaison_sorts_the_time_left_column_by_the_time_it_shows(
    client, cast, lead_by, report, world
):
    """The column tells a summoned department the time to report for duty, but sorted by
    the lead's deadline: the summons stood first, though due after the liaison's own case."""
    tuesday_10 = datetime(2026, 3, 10, 2, tzinfo=UTC)
    with time_machine.travel(tuesday_10, tick=False):
        # The market department's, due 12:00; the urban department to report for duty by 14:00.
        summoned = lead_by(world.market, assisting=[world.urban], whistle=True)
    with time_machine.travel(tuesday_10 + timedelta(hours=1), tick=False):
        own = report()  # the urban department's to accept by 13:00
    with time_machine.travel(tuesday_10 + timedelta(hours=3), tick=False):
        later = report()  # by 15:00
    assert own.due_at < summoned.assists.get().report_due_at < later.due_at
    assert summoned.due_at < own.due_at
    client.force_login(cast.liaison)  # the urban department's, summoned

    with time_machine.travel(tuesday_10 + timedelta(minutes=90), tick=False):
        order = time_left_order(client.get(reverse(CHANGELIST)))
        ascending = client.get(reverse(CHANGELIST), order)
        assert list(ascending.context["cl"].result_list) == [own, summoned, later]
        assert re.search(r"Report for duty: [^<]* left", ascending.text)
        descending = client.get(reverse(CHANGELIST), time_left_order(ascending, descending=True))
        assert list(descending.context["cl"].result_list) == [later, summoned, own]

        # Others see the lead's clock and the column sorts by it.
        supervisor = cast.district_supervisor
        supervisor.is_staff = True  # supervisors read the admin too
        supervisor.save(update_fields=["is_staff"])
        sync_role_groups(users=[supervisor])
        for user in (cast.other_liaison, supervisor, cast.admin):
            client.force_login(user)
            response = client.get(reverse(CHANGELIST), order)
            assert "Report for duty" not in response.text
            shown = list(response.context["cl"].result_list)
            assert shown == sorted(shown, key=lambda case: case.due_at), user
            assert summoned in shown


def test_cases_with_no_running_clock_sort_last_by_time_left_either_way(client, cast, report):
    """Sorted by most time left first, a district's finished cases (no clock: "—") came
    before every case that had some time left."""
    tuesday_10 = datetime(2026, 3, 10, 2, tzinfo=UTC)
    with time_machine.travel(tuesday_10, tick=False):
        earlier = report()
    with time_machine.travel(tuesday_10 + timedelta(hours=1), tick=False):
        later = report()
        cancelled = workflow.case_cancel(case=report(), actor=cast.dispatcher, reason="重复上报")
    assert earlier.due_at < later.due_at and cancelled.due_at is None
    client.force_login(cast.admin)

    with time_machine.travel(tuesday_10 + timedelta(hours=2), tick=False):
        order = time_left_order(client.get(reverse(CHANGELIST)))
        ascending = client.get(reverse(CHANGELIST), order)
        assert list(ascending.context["cl"].result_list) == [earlier, later, cancelled]
        descending = client.get(reverse(CHANGELIST), time_left_order(ascending, descending=True))
        assert list(descending.context["cl"].result_list) == [later, earlier, cancelled]


def test_liaison_reports_for_duty_when_summoned_by_a_whistle(client, cast, lead_by, world):
    case = lead_by(world.market, assisting=[world.urban], whistle=True)
    client.force_login(cast.liaison)
    page = client.get(reverse("admin:cases_case_change", args=[case.pk]))
    assert "report-for-duty" in [form["name"] for form in page.context["transition_forms"]]
    response = client.post(
        act_url(case, "report-for-duty"),
        {"version": case.version, "comment": "已到岗"},
        follow=True,
    )
    assist = case.assists.get(department=world.urban)
    assert assist.reported_at is not None
    event = case.events.get(action="report_for_duty")
    assert (event.actor, event.from_state, event.to_state) == (cast.liaison, case.state, case.state)
    assert any("report for duty" in text for text in messages_of(response))
    again = client.post(act_url(case, "report-for-duty"), {"version": case.version}, follow=True)
    assert case.events.filter(action="report_for_duty").count() == 1
    assert any("already" in text for text in messages_of(again))


def test_a_report_for_duty_comment_is_kept_to_the_length_of_a_reason(client, cast, lead_by, world):
    """The admin's return, resolve, extension and arbitration texts stopped at 2,000
    characters, its report-for-duty comment (and extension decision note) at none."""
    case = lead_by(world.market, assisting=[world.urban], whistle=True)
    client.force_login(cast.liaison)
    response = client.post(
        act_url(case, "report-for-duty"),
        {"version": case.version, "comment": "已到岗" * 667},  # 2,001 characters
        follow=True,
    )
    assert case.assists.get(department=world.urban).reported_at is None
    assert any("at most 2000 characters (it has 2001)" in text for text in messages_of(response))


def test_a_summoned_liaison_is_told_by_when_to_report_for_duty(client, cast, lead_by, world):
    """The page's deadline is the lead's clock: the summoned department's own deadline is
    said at the button, and once it has passed, that the report is late."""
    case = lead_by(world.market, assisting=[world.urban], whistle=True)
    due = case.assists.get(department=world.urban).report_due_at
    client.force_login(cast.liaison)

    def note():
        page = client.get(reverse("admin:cases_case_change", args=[case.pk]))
        return {form["name"]: form["note"] for form in page.context["transition_forms"]}[
            "report-for-duty"
        ]

    when = date_format(timezone.localtime(due), "DATETIME_FORMAT")
    assert note() == (f"The whistle summoned your department to assist: report for duty by {when}.")
    late = (
        "The whistle summoned your department to assist: reporting for duty was due by"
        f" {when}, and is late now."
    )
    with time_machine.travel(due, tick=False):  # at the deadline, as the list counts
        assert note() == late
    with time_machine.travel(due + timedelta(minutes=1)):
        assert note() == late


def test_a_liaisons_report_for_duty_queue_holds_only_their_departments_summonses(
    client, cast, lead_by, world
):
    theirs = lead_by(world.market, assisting=[world.urban], whistle=True)
    others = lead_by(world.urban, assisting=[world.market], whistle=True)
    queue = {"waiting": "report_for_duty"}
    client.force_login(cast.liaison)
    response = client.get(reverse(CHANGELIST), queue)
    assert list(response.context["cl"].result_list) == [theirs]
    client.force_login(cast.other_liaison)
    response = client.get(reverse(CHANGELIST), queue)
    assert list(response.context["cl"].result_list) == [others]


def test_a_department_not_summoned_cannot_report_for_duty(client, cast, lead_by, world):
    case = lead_by(world.urban, assisting=[world.market], whistle=True)
    client.force_login(cast.liaison)
    client.post(act_url(case, "report-for-duty"), {"version": case.version})
    assert not case.events.filter(action="report_for_duty").exists()


def jpeg_upload(name="fix.jpg"):
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), "green").save(buffer, "JPEG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/jpeg")


def test_liaison_resolves_with_a_note_and_photos(client, cast, own_cases, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    case = own_cases[0]
    workflow.case_accept(case=case, actor=cast.liaison)
    client.force_login(cast.liaison)
    client.post(
        act_url(case, "resolve"),
        {
            "version": case.version,
            "note": "已清运",
            "photos": [jpeg_upload()],
        },
    )
    case.refresh_from_db()
    assert case.state == State.RESOLVED
    assert case.photos.count() == 1


def test_the_resolve_button_says_which_photos_it_takes_before_any_is_chosen(
    client, cast, own_cases
):
    """The limits on the page, and only pictures in the file picker: not learnt from a
    refusal after the note was typed."""
    case = own_cases[0]
    workflow.case_accept(case=case, actor=cast.liaison)
    client.force_login(cast.liaison)
    page = client.get(reverse("admin:cases_case_change", args=[case.pk])).content.decode()
    resolve = page[page.index('id="act-resolve"') :]
    resolve = resolve[: resolve.index("</form>")]
    assert 'accept="image/jpeg,image/png,image/webp"' in resolve
    assert "Up to 5 JPEG, PNG or WebP images, 10 MB each." in resolve


def test_a_bad_photo_rolls_the_resolve_back(client, cast, own_cases, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    case = own_cases[0]
    workflow.case_accept(case=case, actor=cast.liaison)
    client.force_login(cast.liaison)
    fake = SimpleUploadedFile("fix.png", b"not an image", content_type="image/png")
    response = client.post(
        act_url(case, "resolve"),
        {"version": case.version, "note": "已清运", "photos": [fake]},
        follow=True,
    )
    case.refresh_from_db()
    assert case.state == State.IN_PROGRESS
    assert not case.events.filter(action="resolve").exists()
    assert messages_of(response)
    # The note comes back for another try (the file cannot: a browser is not handed files).
    forms = {button["name"]: button["form"] for button in response.context["transition_forms"]}
    assert forms["resolve"]["note"].value() == "已清运"


def test_a_refused_button_keeps_what_was_typed_for_one_page_view(client, cast, own_cases):
    case = own_cases[0]
    workflow.case_accept(case=case, actor=cast.liaison)
    client.force_login(cast.liaison)

    refused = client.post(
        act_url(case, "request-extension"),
        {"version": case.version, "extra_days": "999", "reason": "需要协调三个部门"},
        follow=True,
    )

    form = {button["name"]: button["form"] for button in refused.context["transition_forms"]}
    assert form["request-extension"]["reason"].value() == "需要协调三个部门"
    assert form["request-extension"].errors["extra_days"]  # shown beside the field
    assert not form["resolve"].is_bound  # the other buttons stay blank
    again = client.get(reverse("admin:cases_case_change", args=[case.pk]))
    blank = {button["name"]: button["form"] for button in again.context["transition_forms"]}
    assert not blank["request-extension"].is_bound


def test_a_refused_button_names_the_field_it_needs(client, cast, own_cases):
    case = own_cases[0]
    workflow.case_accept(case=case, actor=cast.liaison)
    client.force_login(cast.liaison)

    response = client.post(act_url(case, "resolve"), {"version": case.version}, follow=True)

    assert messages_of(response) == [f"Case {case.number}: What was done: This field is required."]


def test_a_button_refused_whatever_was_typed_says_why_not_which_field_is_missing(
    client, cast, own_cases
):
    # Pressed on a page opened before another liaison resolved the case.
    case = own_cases[0]
    workflow.case_accept(case=case, actor=cast.liaison)
    workflow.case_resolve(case=case, actor=cast.liaison, note="已清理")
    client.force_login(cast.liaison)

    response = client.post(act_url(case, "resolve"), {"version": case.version}, follow=True)

    assert messages_of(response) == [
        f"Case {case.number}: A case in the state “resolved” cannot be given “resolve”."
    ]
    assert "resolve" not in {button["name"] for button in response.context["transition_forms"]}


def test_a_refused_button_names_the_field_with_a_chinese_colon_in_chinese(
    client,
    cast,
    own_cases,
    compiled_catalogue,  # noqa: F811
):
    case = own_cases[0]
    workflow.case_accept(case=case, actor=cast.liaison)
    client.force_login(cast.liaison)

    response = client.post(
        act_url(case, "resolve"),
        {"version": case.version},
        follow=True,
        headers={"accept-language": "zh-hans"},
    )

    # "处置情况：", as the label beside the field reads; not "处置情况: ".
    assert messages_of(response) == [f"案件 {case.number}：处置情况：这个字段是必填项。"]


def test_changelist_with_many_cases_runs_a_fixed_number_of_queries(
    client, cast, report, django_assert_max_num_queries
):
    for index in range(60):
        report(description=f"垃圾 {index}")
    client.force_login(cast.liaison)
    # Four of them fetch the page's categories, cells, townships and departments.
    with django_assert_max_num_queries(14):
        response = client.get(reverse(CHANGELIST), {"deadline": "on_time", "state": "assigned"})
    assert len(response.context["cl"].result_list) == 50


def test_audit_trail_filters_by_who_acted(client, cast, own_cases):
    workflow.case_accept(case=own_cases[0], actor=cast.liaison)
    client.force_login(cast.admin)
    response = client.get(
        reverse("admin:cases_caseevent_changelist"), {"actor__role__exact": "liaison"}
    )
    rows = list(response.context["cl"].result_list)
    assert [(event.action, event.actor) for event in rows] == [("accept", cast.liaison)]


def test_bulk_accept_names_a_ticked_case_that_left_the_list_meanwhile(client, cast, own_cases):
    """Returned to the pool from another tab after the list was shown: said, not skipped."""
    returned = own_cases[0]
    client.force_login(cast.liaison)
    workflow.case_return(case=returned, actor=cast.liaison, reason="不属于城管")
    response = run_action(client, "accept_selected", own_cases)
    texts = messages_of(response)
    assert any("Accepted 2 cases" in text for text in texts)
    assert (
        f"1 case was not accepted ({returned.number}): it changed meanwhile and is no longer"
        " in this list" in texts
    )


def test_bulk_accept_sums_up_the_refusals_of_one_kind_in_one_message(
    client,
    cast,
    report,
    compiled_catalogue,  # noqa: F811
):
    """ "Select all" over cases already in progress listed the same refusal case by case."""
    cases = [report(description=f"垃圾 {index}") for index in range(6)]
    for case in cases[:5]:
        workflow.case_accept(case=case, actor=cast.liaison)
    client.force_login(cast.liaison)
    response = run_action(client, "accept_selected", cases)
    texts = messages_of(response)
    numbers = [case.number for case in cases]
    assert texts == [
        f"Accepted 1 case: {numbers[5]}",
        f"5 cases were not accepted ({numbers[0]}, {numbers[1]}, {numbers[2]} and 2 more): "
        "A case in the state “in progress” cannot be given “accept”.",
    ]
    # In Chinese too.
    cases[5].refresh_from_db()
    workflow.case_return(case=cases[5], actor=cast.liaison, reason="不属于城管")
    client.cookies["django_language"] = "zh-hans"
    texts = messages_of(run_action(client, "accept_selected", cases[1:]))
    assert len(texts) == 2
    assert texts[0].startswith(
        f"4 件案件未受理（{numbers[1]}、{numbers[2]}、{numbers[3]}等另外 1 件）："
    )


def test_a_button_pressed_on_a_case_passed_on_meanwhile_says_it_changed(client, cast, own_cases):
    """SPEC §2: the one who loses is told the case changed, not that there is no such case,
    even when the winner's step took it out of their sight (returned to the pool)."""
    case = own_cases[0]
    page_version = case.version
    client.force_login(cast.liaison)
    workflow.case_return(case=case, actor=cast.liaison, reason="不属于城管")
    response = client.post(act_url(case, "accept"), {"version": page_version}, follow=True)
    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == reverse(CHANGELIST)
    assert messages_of(response) == [
        f"Case {case.number} changed while you were acting on it and is no longer yours to"
        " see: another step passed it on (to the pool or to another department). Nothing was"
        " done."
    ]
    case.refresh_from_db()
    assert case.state == State.FALLBACK
    # A case never theirs, posted with its current version, is still not found.
    assert client.post(act_url(case, "accept"), {"version": case.version}).status_code == 404


def test_a_button_refused_because_the_case_changed_keeps_what_was_typed(client, cast, own_cases):
    """As the case pages do: the reason comes back, with the version as it is now."""
    case = own_cases[0]
    page_version = case.version
    client.force_login(cast.liaison)
    workflow.case_accept(case=case, actor=cast.liaison)
    refused = client.post(
        act_url(case, "return"),
        {"version": page_version, "reason": "其实不属于城管"},
        follow=True,
    )
    assert any("changed" in text for text in messages_of(refused))
    form = {button["name"]: button["form"] for button in refused.context["transition_forms"]}
    case.refresh_from_db()
    assert form["return"]["reason"].value() == "其实不属于城管"
    assert form["return"]["version"].value() == str(case.version)


@pytest.fixture
def colleague(world):
    """A second liaison of the urban department, working the same list."""
    from departments.models import User
    from tests.conftest import make_user

    return make_user("colleague", User.Role.LIAISON, department=world.urban)


def test_of_two_liaisons_acting_at_once_the_second_is_told_what_the_first_did(
    client, cast, own_cases, colleague
):
    """Both opened the case; the colleague accepted it, then the liaison pressed "Return":
    told who did what and when, and that the reason kept waits for a second press, not to
    reload a page that already shows the case as it is now."""
    case = own_cases[0]
    page_version = case.version
    workflow.case_accept(case=case, actor=colleague)
    accepted = case.events.get(action="accept")
    client.force_login(cast.liaison)
    response = client.post(
        act_url(case, "return"), {"version": page_version, "reason": "不属于城管"}, follow=True
    )
    when = date_format(timezone.localtime(accepted.at), "DATETIME_FORMAT")
    assert messages_of(response) == [
        f"Case {case.number} changed since you opened it, and nothing was done. Latest step:"
        f" accepted by Colleague on {when}; its state is now “in progress”. Check it, then"
        " try again: what you typed is kept."
    ]
    case.refresh_from_db()
    assert case.state == State.IN_PROGRESS


def test_a_button_that_no_longer_applies_after_a_colleagues_step_says_so(
    client, cast, own_cases, colleague
):
    case = own_cases[0]
    page_version = case.version
    workflow.case_accept(case=case, actor=colleague)
    client.force_login(cast.liaison)
    response = client.post(act_url(case, "accept"), {"version": page_version}, follow=True)
    (text,) = messages_of(response)
    assert "Latest step: accepted by Colleague on" in text
    assert text.endswith("“Accept” is no longer possible.")
    assert case.events.filter(action="accept").count() == 1
