"""The case list's filters and exports, the duplicate check, and the dispatcher's correction."""

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from cases.models import Case, CaseEvent, State
from cases.services import workflow
from departments.models import Responsibility
from tests.conftest import centre_of, correct_as_shown


def numbers(response):
    return {case.number for case in response.context["page"]}


@pytest.fixture
def mixed(report, cast, world):
    with time_machine.travel(timezone.now() - timedelta(days=10)):
        old = report(description="旧的垃圾 old rubbish")
    assigned = report()
    pool = report(
        category=world.stall, cell=world.n2, description="占道 stall", address="人民路 1 号"
    )
    lamp = report(category=world.lamp, cell=world.n3)
    workflow.case_dispatch(
        case=lamp, actor=cast.dispatcher, lead=world.housing, assisting=[world.market]
    )
    return {"old": old, "assigned": assigned, "pool": pool, "lamp": lamp}


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"state": ["fallback"]}, {"pool"}),
        ({"state": ["assigned"]}, {"old", "assigned", "lamp"}),
        ({"category": "ENV"}, {"old", "assigned"}),  # a parent category includes its children
        ({"cell": "N-02"}, {"pool"}),
        ({"department": "SJ"}, {"lamp"}),  # as assisting department
        ({"department": "CG"}, {"old", "assigned"}),
        ({"overdue": "on"}, {"old"}),
        ({"overdue": "1"}, {"old"}),
        ({"overdue": "0"}, {"old", "assigned", "pool", "lamp"}),  # as people write it by hand
        ({"overdue": "off"}, {"old", "assigned", "pool", "lamp"}),
        ({"q": "人民路"}, {"pool"}),
        ({"q": "old rubbish"}, {"old"}),
    ],
)
def test_case_list_filters(client, cast, world, mixed, params, expected):
    lookups = {
        "category": lambda code: world.environment.pk,
        "cell": lambda code: world.n2.pk,
        "department": lambda code: {"SJ": world.market, "CG": world.urban}[code].pk,
    }
    query = {key: lookups[key](value) if key in lookups else value for key, value in params.items()}
    client.force_login(cast.caseworker)
    response = client.get("/cases/", query)
    assert numbers(response) == {mixed[name].number for name in expected}


def test_case_list_date_range_uses_local_dates(client, cast, mixed):
    today = timezone.localdate()
    client.force_login(cast.caseworker)
    recent = client.get("/cases/", {"date_from": today.isoformat()})
    assert mixed["old"].number not in numbers(recent) and len(numbers(recent)) == 3
    old = client.get("/cases/", {"date_to": (today - timedelta(days=5)).isoformat()})
    assert numbers(old) == {mixed["old"].number}


def test_case_list_dates_start_and_end_at_local_midnight(client, cast, report):
    """Filtered by a range of moments from local midnight to local midnight, as each case's
    local date read them: 23:30 and 00:30 in Shanghai are 15:30 and 16:30 UTC of one day."""
    with time_machine.travel(datetime(2026, 3, 9, 15, 30, tzinfo=UTC), tick=False):
        monday_late = report()
    with time_machine.travel(datetime(2026, 3, 9, 16, 30, tzinfo=UTC), tick=False):
        tuesday_early = report()
    client.force_login(cast.caseworker)

    def listed(**dates):
        with CaptureQueriesContext(connection) as queries:
            found = numbers(client.get("/cases/", dates))
        # Not each case's local date, which no index answers.
        assert not [q for q in queries if "AT TIME ZONE" in q["sql"]]
        return found

    assert listed(date_to="2026-03-09") == {monday_late.number}
    assert listed(date_from="2026-03-10") == {tuesday_early.number}
    assert listed(date_from="2026-03-09", date_to="2026-03-09") == {monday_late.number}
    both = {monday_late.number, tuesday_early.number}
    assert listed(date_from="0001-01-01", date_to="9999-12-31") == both


def test_csv_export_follows_the_filters_and_visibility(client, cast, world, mixed, report):
    report(reporter=cast.south_caseworker, cell=world.s1)
    client.force_login(cast.caseworker)
    response = client.get(reverse("cases:export_csv"), {"state": ["assigned"]})
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][0] == "Number"
    assert {row[0] for row in rows[1:]} == {mixed[n].number for n in ("old", "assigned", "lamp")}


def test_exports_carry_the_state_and_reason_codes_in_any_language(client, cast, mixed):
    pool = mixed["pool"]
    client.force_login(cast.caseworker)
    response = client.get(reverse("cases:export_csv"), HTTP_ACCEPT_LANGUAGE="zh-hans")
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    header, *rows = csv.reader(io.StringIO(text))
    assert header[1:3] == ["状态代码", "状态"]
    row = next(dict(zip(header, row, strict=True)) for row in rows if row[0] == pool.number)
    assert (row["状态代码"], row["兜底原因代码"]) == ("fallback", pool.fallback_reason)
    assert row["状态"] == "兜底池"


@pytest.mark.parametrize("export", ["cases:export_csv", "cases:export_xlsx"])
def test_an_export_with_a_filter_that_does_not_parse_says_so(client, cast, mixed, export):
    client.force_login(cast.dispatcher)

    response = client.get(reverse(export), {"date_from": "garbage"})

    assert response.status_code == 400
    assert response.content.decode().startswith("Nothing was exported: ")
    assert "Enter a valid date." in response.content.decode()


@pytest.mark.parametrize("value", ["²", "\x00", "CG\x00"])
@pytest.mark.parametrize("field", ["category", "cell", "department"])
def test_a_filter_holding_no_code_or_id_is_refused_not_a_server_error(
    client, cast, mixed, field, value
):
    """A "²" passes str.isdigit() but not int(); PostgreSQL refuses a NUL in a string: said
    beside the filter, like any wrong value."""
    client.force_login(cast.dispatcher)
    response = client.get(reverse("cases:list"), {field: value})
    assert response.status_code == 200
    assert field in response.context["filter_form"].errors


def test_a_report_naming_its_category_with_a_digit_that_is_not_an_id_is_refused(
    client, cast, world
):
    client.force_login(cast.caseworker)
    form = {"cell": world.n2.pk, "description": "路边堆放垃圾", "urgency": "normal"}
    response = client.post("/cases/new/", {**form, "category": "①"})
    assert response.status_code == 200
    assert "category" in response.context["form"].errors
    assert not Case.objects.exists()


@pytest.mark.parametrize(
    "export, kind", [("cases:export_csv", "CSV"), ("cases:export_xlsx", "XLSX")]
)
def test_an_export_of_more_cases_than_one_request_can_write_is_refused_saying_how_to_narrow_it(
    client, cast, mixed, export, kind, monkeypatch
):
    monkeypatch.setattr("cases.spreadsheets.EXPORT_MAX_ROWS", {"csv": 2, "xlsx": 2})
    client.force_login(cast.caseworker)

    assigned = client.get(reverse(export), {"state": ["assigned"]})  # three cases
    rubbish = client.get(reverse(export), {"category": "ENV"})  # two: as many as it holds

    assert assigned.status_code == 400
    assert assigned.content.decode() == (
        f"Nothing was exported: more than 2 rows match, the most one {kind} export holds."
        " Narrow the filters (the dates, state, township or category) and export in parts."
    )
    assert rubbish.status_code == 200


def test_xlsx_export_has_every_visible_filtered_case(client, cast, mixed):
    client.force_login(cast.liaison)
    response = client.get(reverse("cases:export_xlsx"))
    sheet = load_workbook(io.BytesIO(response.content)).active
    values = [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert sorted(values) == sorted([mixed["old"].number, mixed["assigned"].number])


def test_a_point_in_another_townships_cell_is_refused_as_its_cells_are(client, cast, world):
    lat, lng = centre_of(5)  # S-01, in the south township
    client.force_login(cast.caseworker)  # of the north township
    data = {"category": world.rubbish.pk, "lat": lat, "lng": lng, "description": "越界"}
    response = client.post("/cases/new/", {**data, "urgency": "normal", "confirm_new": "on"})
    assert response.status_code == 200
    # Said beside the location, where the reporter looks, not kept on a hidden field.
    assert "lies in grid cell S-01 of another township" in response.text
    assert "lies in grid cell S-01" in str(response.context["form"]["cell"].errors)
    assert not Case.objects.exists()
    # Outside every cell, the reporter's own township takes it.
    response = client.post(
        "/cases/new/", {**data, "lat": 0.5, "lng": 0.5, "urgency": "normal", "confirm_new": "on"}
    )
    assert response.status_code == 302
    assert Case.objects.get().township == world.north


def test_possible_duplicates_are_shown_before_saving_and_can_be_overridden(
    client, cast, world, report
):
    existing = report(cell=world.n2)
    client.force_login(cast.caseworker)
    data = {
        "category": world.rubbish.pk,
        "cell": world.n1.pk,
        "description": "又有垃圾",
        "urgency": "normal",
    }
    response = client.post("/cases/new/", data)
    assert response.status_code == 200
    assert [dup.number for dup in response.context["duplicates"]] == [existing.number]
    assert Case.objects.count() == 1
    response = client.post("/cases/new/", {**data, "confirm_new": "on"})
    assert response.status_code == 302
    assert Case.objects.count() == 2


def test_an_unclassified_report_meets_the_unclassified_cases_nearby(client, cast, world, report):
    existing = report(category=None, cell=world.n2)
    report(cell=world.n1)  # classified: not the same problem as far as anyone knows
    client.force_login(cast.caseworker)
    data = {"cell": world.n1.pk, "description": "不知归谁管的垃圾", "urgency": "normal"}
    response = client.post("/cases/new/", data)
    assert response.status_code == 200
    assert [dup.number for dup in response.context["duplicates"]] == [existing.number]
    assert "like this report, have no category yet" in response.content.decode()
    assert Case.objects.count() == 2
    assert client.post("/cases/new/", {**data, "confirm_new": "on"}).status_code == 302
    assert Case.objects.count() == 3


def test_a_report_added_to_its_duplicate_keeps_its_address_and_urgency(client, cast, world, report):
    existing = report(cell=world.n2)
    client.force_login(cast.caseworker)
    data = {
        "category": world.rubbish.pk,
        "cell": world.n1.pk,
        "description": "又有垃圾",
        "address": "北街道 8 号门口",
        "urgency": "urgent",
        "reporter_phone": "13900002222",
    }
    screen = client.post("/cases/new/", data)
    assert "contact is not added: a note is read by everyone" in screen.text
    note_text = screen.context["note_text"]
    client.post(reverse("cases:note_add", args=[existing.number]), {"text": note_text})
    note = existing.notes.get().text
    assert note.splitlines() == ["又有垃圾", "Address: 北街道 8 号门口", "Urgency: urgent"]
    assert "13900002222" not in note


def test_adding_to_a_duplicate_adds_a_note_instead_of_a_case(client, cast, world, report):
    existing = report()
    client.force_login(cast.caseworker)
    client.post(reverse("cases:note_add", args=[existing.number]), {"text": "又有垃圾"})
    assert Case.objects.count() == 1
    assert existing.notes.get().text == "又有垃圾"


def test_a_case_in_a_distant_cell_is_not_a_duplicate(client, cast, world, report):
    report(cell=world.n3)  # not touching N-01
    client.force_login(cast.caseworker)
    data = {
        "category": world.rubbish.pk,
        "cell": world.n1.pk,
        "description": "垃圾",
        "urgency": "normal",
    }
    assert client.post("/cases/new/", data).status_code == 302


def correct(client, case, **data):
    data.setdefault("expected_version", case.version)
    return client.post(reverse("cases:correct", args=[case.number]), data)


def test_correcting_a_pool_case_dispatches_it_to_the_new_lead(client, cast, world, report):
    case = report(category=None)
    client.force_login(cast.dispatcher)
    correct(client, case, category=world.rubbish.pk, cell=world.n1.pk)
    case.refresh_from_db()
    assert case.state == State.ASSIGNED and case.lead_department == world.urban
    event = CaseEvent.objects.get(case=case, action="correct")
    assert event.from_state == event.to_state == State.FALLBACK
    assert list(case.events.values_list("action", flat=True))[-2:] == ["correct", "dispatch"]


def test_correcting_an_assigned_case_to_an_overlap_returns_it_to_the_pool(
    client, cast, world, report
):
    case = report()
    client.force_login(cast.dispatcher)
    correct(client, case, category=world.stall.pk, cell=world.n1.pk)
    case.refresh_from_db()
    assert case.state == State.FALLBACK and case.fallback_reason == "overlap"
    assert case.return_count == 0
    assert set(case.candidate_departments.all()) == {world.urban, world.market}
    assert case.events.last().action == "return" and case.events.last().actor is None


def test_the_timeline_says_a_correction_took_the_case_from_its_lead_not_that_the_lead_returned_it(
    client, cast, world, report
):
    case = report()
    client.force_login(cast.dispatcher)
    correct(client, case, category=world.stall.pk, cell=world.n1.pk)
    page = client.get(reverse("cases:detail", args=[case.number])).content.decode()
    assert f"taken from {world.urban.name} by a correction" in page
    assert f"by {world.urban.name}" not in page


def test_a_correction_back_to_the_pool_is_no_departments_return_in_the_figures(
    client, cast, world, report
):
    from cases.models import DailyFigures
    from cases.models.figures import COUNTED_FIELDS
    from cases.selectors.dashboard import with_rates
    from cases.selectors.supervision import department_figures
    from cases.services.figures import figures_refresh
    from cases.services.supervision import supervision_refresh

    case = report()
    client.force_login(cast.dispatcher)
    correct(client, case, category=world.stall.pk, cell=world.n1.pk)
    figures_refresh()
    totals = DailyFigures.objects.values_list(*COUNTED_FIELDS).get()
    assert with_rates(dict(zip(COUNTED_FIELDS, totals, strict=True)))["returned"] == 0
    supervision_refresh()
    today = timezone.localdate()
    urban = next(
        figure
        for figure in department_figures(first=today - timedelta(days=1), last=today)
        if figure.department == world.urban
    )
    assert urban.returns == 0


def test_a_correction_keeps_the_escalation_level_a_sweep_raised_meanwhile(cast, world, report):
    from cases.services.escalation import escalation_sweep

    case = report()
    escalation_sweep(now=case.due_at + timedelta(minutes=1))  # level 1, the version unchanged
    correct_as_shown(case, actor=cast.dispatcher, category=world.rubbish, cell=world.n2)
    case.refresh_from_db()
    assert (case.cell, case.escalation_level) == (world.n2, 1)


def test_correction_is_refused_to_caseworkers_and_after_accept(client, cast, world, report):
    case = report(category=None)
    client.force_login(cast.caseworker)
    correct(client, case, category=world.rubbish.pk, cell=world.n1.pk)
    case.refresh_from_db()
    assert case.state == State.FALLBACK and case.category is None
    accepted = report()
    workflow.case_accept(case=accepted, actor=cast.liaison)
    client.force_login(cast.dispatcher)
    correct(client, accepted, category=world.lamp.pk, cell=world.n1.pk)
    accepted.refresh_from_db()
    assert accepted.category == world.rubbish


def test_a_correction_that_changes_nothing_leaves_a_returned_case_in_the_pool(
    client, cast, world, report
):
    case = report()
    workflow.case_return(case=case, actor=cast.liaison, reason="不属于城管职责")
    client.force_login(cast.dispatcher)
    response = correct(client, case, category=world.rubbish.pk, cell=world.n1.pk)
    case.refresh_from_db()
    assert case.state == State.FALLBACK and case.lead_department is None
    assert not case.events.filter(action="correct").exists()
    (message,) = [str(m) for m in get_messages(response.wsgi_request)]
    assert message.startswith(f"Case {case.number}: Nothing to correct")


def test_a_case_waiting_for_arbitration_is_corrected_by_a_supervisor_only(
    client, cast, world, disputed
):
    case = disputed
    client.force_login(cast.dispatcher)
    page = client.get(reverse("cases:detail", args=[case.number]))
    assert page.context["correction_form"] is None
    response = correct(client, case, category=world.lamp.pk, cell=world.n1.pk)
    (message,) = [str(m) for m in get_messages(response.wsgi_request)]
    assert "waits for a supervisor" in message
    case.refresh_from_db()
    assert case.category == world.rubbish
    client.force_login(cast.supervisor)
    page = client.get(reverse("cases:detail", args=[case.number]))
    assert page.context["correction_form"] is not None


def test_exports_never_turn_text_into_spreadsheet_formulas(client, cast, report):
    """A CSV cell has no type: an apostrophe keeps it text. An XLSX cell is typed text and
    keeps its words as written ("-5度", a "+86" number)."""
    report(description='=HYPERLINK("http://evil.example","click")')
    report(description="-5度路面结冰", address="+86 广场")
    client.force_login(cast.caseworker)
    sheet = load_workbook(io.BytesIO(client.get(reverse("cases:export_xlsx")).content)).active
    cells = {row[16].value: (row[16], row[15]) for row in sheet.iter_rows(min_row=2)}
    description, _address = cells['=HYPERLINK("http://evil.example","click")']
    assert (description.data_type, description.quotePrefix) == ("s", True)
    description, address = cells["-5度路面结冰"]
    assert (description.data_type, address.value) == ("s", "+86 广场")
    response = client.get(reverse("cases:export_csv"))
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    assert "'=HYPERLINK" in text


def test_a_control_character_in_a_text_does_not_break_the_xlsx_export(client, cast, report):
    """Spreadsheets refuse control characters; one pasted into a description (Word's
    vertical tab) made the export of every case beside it a server error. The
    noncharacters U+FFFE and U+FFFF (an Open311 client's) made the file unreadable."""
    case = report(description="垃圾\x0b堆\ufffe放\uffff", address="人民路\x01口")
    client.force_login(cast.caseworker)
    response = client.get(reverse("cases:export_xlsx"))
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert [cell.value for cell in sheet[2]][0] == case.number
    assert [cell.value for cell in sheet[2]][-2:] == ["人民路口", "垃圾堆放"]


def test_correcting_an_assigned_case_to_another_lead_keeps_it_assigned_with_a_fresh_clock(
    client, cast, world, report
):
    from departments.models import Responsibility

    Responsibility.objects.create(category=world.lamp, department=world.housing, role="lead")
    case = report()  # rubbish → CG, accept clock of 2 working hours
    seq = case.deadline_seq
    client.force_login(cast.dispatcher)
    correct(client, case, category=world.lamp.pk, cell=world.n1.pk)
    case.refresh_from_db()
    assert case.state == State.ASSIGNED and case.lead_department == world.housing
    assert case.deadline_kind == "accept" and case.deadline_seq == seq + 1
    event = case.events.get(action="correct")
    assert event.data["lead"] == world.housing.pk and event.data["old"]["lead"] == world.urban.pk
    assert case.events.last().action == "correct"  # no transition was needed


def test_a_stale_correction_is_refused(client, cast, world, report):
    case = report(category=None)
    stale = case.version
    workflow.case_dispatch(case=case, actor=cast.dispatcher, lead=world.urban)
    client.force_login(cast.dispatcher)
    correct(client, case, category=world.lamp.pk, cell=world.n1.pk, expected_version=stale)
    case.refresh_from_db()
    assert case.category is None
    assert not case.events.filter(action="correct").exists()


def test_filters_also_take_codes_and_a_bad_filter_matches_nothing(client, cast, world, mixed):
    client.force_login(cast.caseworker)
    by_code = client.get("/cases/", {"category": "ENV", "department": "CG"})
    assert numbers(by_code) == {mixed["old"].number, mixed["assigned"].number}
    assert numbers(client.get("/cases/", {"cell": "N-02"})) == {mixed["pool"].number}
    unknown = client.get("/cases/", {"category": "NO-SUCH"})
    assert numbers(unknown) == set()
    assert unknown.context["filter_form"].errors["category"]


def test_a_correction_naming_an_assisting_department_the_lead_no_longer_summons_it(
    cast, world, report
):
    from cases.services.liaison import pending_summons
    from departments.models import Responsibility

    Responsibility.objects.create(category=world.lamp, department=world.market, role="lead")
    case = report(category=world.stall)  # an overlap: in the pool
    workflow.case_dispatch(
        case=case, actor=cast.dispatcher, lead=world.urban, assisting=[world.market], whistle=True
    )
    workflow.case_return(case=case, actor=cast.liaison, reason="不属于城管")
    correct_as_shown(case, actor=cast.dispatcher, category=world.lamp, cell=world.n1)
    assert case.lead_department == world.market
    assert not case.assists.filter(department=world.market).exists()
    assert pending_summons(case, cast.other_liaison) is None


def test_a_correction_to_another_lead_does_not_leave_it_assisting_too(cast, world, report):
    from departments.models import Responsibility

    Responsibility.objects.create(category=world.rubbish, department=world.market, role="assist")
    Responsibility.objects.create(category=world.lamp, department=world.market, role="lead")
    case = report()  # urban leads, market assists
    correct_as_shown(case, actor=cast.dispatcher, category=world.lamp, cell=world.n1)
    assert case.state == State.ASSIGNED and case.lead_department == world.market
    assert not case.assists.filter(department=world.market).exists()


def test_a_refused_correction_says_which_field_and_why(client, cast, world, report):
    case = report(category=None)
    client.force_login(cast.dispatcher)
    response = correct(client, case, category="NO-SUCH-CODE", cell=world.n1.pk)
    (message,) = [str(m) for m in get_messages(response.wsgi_request)]
    assert message.startswith("The correction was not saved: Category: ")
    assert "not one of the available choices" in message
    case.refresh_from_db()
    assert case.category is None


def test_a_correction_that_gives_a_returned_case_back_to_its_returner_warns_first(
    client, cast, world, report, django_assert_max_num_queries, django_assert_num_queries
):
    """Another cell under the same rule routed the returned case straight back to the
    department that had returned it, without a word."""
    case = report()
    workflow.case_return(case=case, actor=cast.liaison, reason="不属于城管，是物业的")
    case.refresh_from_db()
    client.force_login(cast.dispatcher)
    with django_assert_max_num_queries(17) as plain:
        client.get(reverse("cases:detail", args=[case.number]))
    page_queries = len(plain.captured_queries)

    response = correct(client, case, category=world.rubbish.pk, cell=world.n2.pk)

    case.refresh_from_db()
    assert (case.state, case.cell) == (State.FALLBACK, world.n1)  # not yet
    warning = [str(m) for m in get_messages(response.wsgi_request)]
    assert len(warning) == 1
    assert f"Case {case.number} is not corrected yet" in warning[0]
    assert "goes straight back to 城管局" in warning[0] and "“不属于城管，是物业的”" in warning[0]
    assert response["Location"].endswith("#correct")
    # The page comes back with the choice, to send as it is ("Correct anyway") or change.
    # The page's queries, and the kept form's: its category and cell, the session saved
    # without it (a savepoint around the update).
    with django_assert_num_queries(page_queries + 5):
        page = client.get(response["Location"]).content.decode()
    correction = page[page.index('id="correct"') :]
    assert "Correct anyway" in correction
    assert re.search(rf'<option value="{world.n2.pk}" selected>', correction)
    agreed = re.search(r'name="returner_agreed" value="(\d+)"', correction).group(1)

    correct(client, case, category=world.rubbish.pk, cell=world.n2.pk, returner_agreed=agreed)

    case.refresh_from_db()
    assert (case.state, case.lead_department, case.cell) == (
        State.ASSIGNED,
        world.urban,
        world.n2,
    )


def test_a_correction_to_another_department_than_the_returner_goes_through_at_once(
    client, cast, world, report
):
    case = report()
    workflow.case_return(case=case, actor=cast.liaison, reason="不属于城管")
    case.refresh_from_db()
    Responsibility.objects.create(
        category=world.lamp, department=world.housing, role="lead", basis="权责清单 9"
    )
    client.force_login(cast.dispatcher)
    correct(client, case, category=world.lamp.pk, cell=world.n1.pk)
    case.refresh_from_db()
    assert (case.state, case.lead_department) == (State.ASSIGNED, world.housing)
