"""`seed_demo` (SPEC §5): a believable district from the sample files, deliberate gaps and
overlaps that really reach the fallback pool, and bulk synthetic cases whose audit trails
agree with their states."""

import re
from collections import Counter
from datetime import date, datetime
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.db.models import Count, Sum
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cases.models import Case, CaseAssist, CaseEvent, DailyFigures, Escalation, State
from cases.models.figures import COUNTED_FIELDS
from cases.selectors.dashboard import with_rates
from cases.services.deadlines import dispatch_limit_seconds, limit_seconds
from cases.services.intake import case_report
from cases.services.seeding import (
    DEMO_PASSWORD,
    SAMPLE_FILES,
    SAMPLES_DIR,
    demo_logins,
    seed_cases,
)
from cases.services.seeding.histories import STATE_WEIGHTS
from cases.services.seeding.whistles import WHISTLE_CASES
from cases.services.transitions import CLOCK_FOR_STATE
from departments.calendar import get_calendar
from departments.models import Category, Department, GridCell, Responsibility, Township, User
from departments.routing import FallbackReason, get_index

pytestmark = pytest.mark.django_db


def seed(*args) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def route(category_code: str, cell_code: str):
    category = Category.objects.get(code=category_code)
    cell = GridCell.objects.get(code=cell_code)
    return get_index().route(category_id=category.pk, cell_id=cell.pk, on=timezone.localdate())


def dept(code: str) -> int:
    return Department.objects.get(code=code).pk


def test_seed_demo_builds_a_district_with_cells_departments_and_every_role():
    out = seed()

    townships = Township.objects.annotate(cell_count=Count("cells"))
    assert townships.count() >= 2
    assert all(township.cell_count >= 12 for township in townships)
    assert Department.objects.count() >= 8
    assert Department.objects.filter(supervisor_emails__contains="@example.org").count() == (
        Department.objects.count()
    )
    assert Category.objects.filter(parent__isnull=False).exists()
    assert not Category.objects.filter(name_en="").exists()
    roles = set(User.objects.values_list("role", flat=True))
    assert roles == set(User.Role.values)
    assert User.objects.filter(role=User.Role.SUPERVISOR, township__isnull=True).exists()
    assert set(Department.objects.values_list("pk", flat=True)) == set(
        User.objects.filter(role=User.Role.LIAISON).values_list("department_id", flat=True)
    )
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.check_password("demo-pass-2026")
    assert "Demo logins:" in out
    assert re.search(r"cd_dispatcher\s+demo-pass-2026\s+dispatcher", out)


def test_demo_gaps_route_to_fallback_with_no_rule():
    seed()

    assert route("FACILITY-MANHOLE", "CD-01").fallback_reason == FallbackReason.NO_RULE
    assert route("SOCIAL-DISPUTE", "TY-03").fallback_reason == FallbackReason.NO_RULE
    # A township-scoped rule covers its own township only.
    assert route("SAFETY-GAS", "CD-02").lead_department_id == dept("HOUSING")
    assert route("SAFETY-GAS", "CX-02").fallback_reason == FallbackReason.NO_RULE


def test_demo_overlaps_route_to_fallback_with_the_candidates():
    seed()

    noise = route("ENV-NOISE", "CX-05")
    assert noise.fallback_reason == FallbackReason.OVERLAP
    assert set(noise.candidate_department_ids) == {dept("ECOLOGY"), dept("POLICE")}
    # Two leads on one cell: only there; elsewhere the parent category's rule decides.
    tree = route("GREEN-TREE", "CD-06")
    assert tree.fallback_reason == FallbackReason.OVERLAP
    assert set(tree.candidate_department_ids) == {dept("GREENING"), dept("POWER")}
    assert route("GREEN-TREE", "CD-01").lead_department_id == dept("GREENING")


def test_demo_local_rules_and_the_expired_rule_route_as_the_spec_says():
    seed()

    assert route("STREET-PARKING", "CX-01").lead_department_id == dept("URBAN")
    assert route("STREET-PARKING", "CD-01").lead_department_id == dept("POLICE")
    assert route("FACILITY-LAMP", "TY-05").lead_department_id == dept("URBAN")  # cell rule
    assert route("FACILITY-LAMP", "TY-01").lead_department_id == dept("POWER")  # township
    assert route("FACILITY-LAMP", "CD-01").lead_department_id == dept("URBAN")
    # The housing bureau's road rule expired: no overlap with transport any more.
    assert Responsibility.objects.filter(valid_to__lt=date.today()).exists()
    assert route("FACILITY-ROAD", "CD-01").lead_department_id == dept("TRANSPORT")
    assert route("ENV-SEWAGE", "CD-01").assisting_department_ids == (dept("ECOLOGY"),)


def test_a_case_reported_in_a_gap_lands_in_the_townships_pool():
    seed()
    caseworker = User.objects.get(username="cd_caseworker")
    cell = GridCell.objects.get(code="CD-03")
    lng, lat = (cell.min_lng + cell.max_lng) / 2, (cell.min_lat + cell.max_lat) / 2

    case = case_report(
        reporter=caseworker,
        description="井盖缺失",
        category=Category.objects.get(code="FACILITY-MANHOLE"),
        lat=lat,
        lng=lng,
    )

    assert (case.state, case.fallback_reason, case.cell, case.township.code) == (
        State.FALLBACK,
        FallbackReason.NO_RULE,
        cell,
        "CD",
    )


def test_running_seed_demo_again_duplicates_nothing():
    seed("--cases", "20", "--seed", "1")
    counts = {
        model: model.objects.count()
        for model in (Township, GridCell, Department, Category, Responsibility, User)
    }

    out = seed()

    assert {model: model.objects.count() for model in counts} == counts
    assert Case.objects.count() == 20
    assert "users: created 0, updated 0, unchanged" in out
    assert "responsibilities: created 0, updated 0, unchanged" in out


def test_a_real_user_awaiting_an_invitation_never_gets_the_demo_password():
    User.objects.create_user(username="admin", email="root@example.org", password=None)

    seed()

    invited = User.objects.get(username="admin")
    assert not invited.has_usable_password()
    caseworker = User.objects.get(username="cd_caseworker")
    assert caseworker.check_password(DEMO_PASSWORD)
    caseworker.set_password("Another-secret-2026")
    caseworker.save()
    passwords = {row[0]: row[1] for row in demo_logins()}
    assert passwords["admin"] == "(none yet: invited)"
    assert passwords["cd_caseworker"] == "(changed)"
    assert passwords["cd_dispatcher"] == DEMO_PASSWORD


def test_if_empty_leaves_a_loaded_demo_alone():
    seed()

    out = seed("--cases", "5", "--if-empty")

    assert "already loaded" in out
    assert "Demo logins:" in out
    assert not Case.objects.exists()


def test_if_empty_loads_an_empty_database():
    seed("--cases", "5", "--if-empty")

    assert Township.objects.filter(code="CD").exists()
    assert Case.objects.count() == 5


def test_every_sample_file_imports_cleanly_through_its_command():
    for subject, name in SAMPLE_FILES.items():
        out = StringIO()
        call_command(f"import_{subject}", str(SAMPLES_DIR / name), stdout=out, stderr=StringIO())
        assert "updated 0, unchanged 0" in out.getvalue().splitlines()[0]


def assert_trail_matches_state(case: Case, events: list[CaseEvent]) -> None:
    # The transitions: escalation rows change no state (to_state ""), nor does a report
    # for duty (from_state == to_state).
    events = [e for e in events if e.to_state and e.from_state != e.to_state]
    assert events[0].action == "report" and events[0].to_state == State.REPORTED
    assert events[1].action == "route" and events[1].from_state == State.REPORTED
    for before, after in zip(events, events[1:], strict=False):
        assert after.from_state == before.to_state, case.number
        assert after.at >= before.at, case.number
    assert events[-1].to_state == case.state, case.number
    assert case.created_at == events[0].at
    assert case.version == len(events) - 1


def test_seed_demo_cases_creates_well_formed_cases_with_consistent_trails():
    seed()

    out = seed("--cases", "300", "--seed", "42")

    assert "cases: created 300" in out
    cases = list(Case.objects.select_related("category"))
    assert len(cases) == 300
    numbers = [case.number for case in cases]
    assert len(set(numbers)) == 300
    assert all(re.fullmatch(r"\d{4}-\d{6}", number) for number in numbers)
    events = {}
    for event in CaseEvent.objects.order_by("at", "id"):
        events.setdefault(event.case_id, []).append(event)
    for case in cases:
        assert_trail_matches_state(case, events[case.pk])
    states = Counter(case.state for case in cases)
    assert set(states) >= {State.CLOSED, State.IN_PROGRESS, State.ASSIGNED, State.FALLBACK}
    now = timezone.now()
    assert all(case.created_at > now - timezone.timedelta(days=95) for case in cases)
    for case in cases:
        if case.state in (State.FALLBACK, State.ASSIGNED, State.IN_PROGRESS):
            assert case.due_at and case.escalate_2_at and case.escalate_3_at and case.remind_at
            assert case.due_at <= case.escalate_2_at <= case.escalate_3_at
            assert case.deadline_seq >= 1
        else:
            assert case.due_at is None
        if case.state in (State.CLOSED, State.CANCELLED):
            assert case.closed_at == events[case.pk][-1].at
    overdue = Case.objects.overdue(now).count()
    assert 0.03 * 300 <= overdue <= 0.25 * 300
    reasons = set(
        Case.objects.filter(state=State.FALLBACK).values_list("fallback_reason", flat=True)
    )
    assert FallbackReason.NO_RULE in reasons or FallbackReason.OVERLAP in reasons


def test_a_few_seeded_cases_already_show_every_state():
    # SPEC §5: N cases "spread over states". Drawn by weight alone, 30 cases often had no
    # suspended or cancelled one; the first cases now take each state once.
    seed()
    every_state = set(State.values) - {State.REPORTED}

    out = seed("--cases", str(len(every_state)), "--seed", "2")

    assert f"cases: created {len(every_state)}" in out
    assert Counter(Case.objects.values_list("state", flat=True)) == dict.fromkeys(every_state, 1)
    for case in Case.objects.all():
        assert_trail_matches_state(case, list(case.events.order_by("at", "id")))


def test_seeded_cases_are_routed_by_the_real_router():
    seed()
    seed_cases(count=200, seed=5)

    for case in Case.objects.prefetch_related("events", "candidate_departments"):
        route_event = next(e for e in case.events.all() if e.action == "route")
        if case.cell_id is None:
            assert route_event.data["fallback_reason"] in ("outside_grid", "unclassified")
            continue
        assert get_index().locate(case.lng, case.lat) == case.cell_id
        decision = get_index().route(
            category_id=case.category_id,
            cell_id=case.cell_id,
            on=timezone.localdate(route_event.at),
        )
        assert route_event.data["lead"] == decision.lead_department_id
        assert route_event.data["fallback_reason"] == decision.fallback_reason
        if case.state == State.FALLBACK and case.fallback_reason == FallbackReason.OVERLAP:
            assert {d.pk for d in case.candidate_departments.all()} == set(
                decision.candidate_department_ids
            )


def test_seeding_more_cases_later_continues_the_numbering():
    seed()
    seed_cases(count=30, seed=1)
    seed_cases(count=30, seed=1)

    numbers = list(Case.objects.values_list("number", flat=True))
    assert len(numbers) == len(set(numbers)) == 60


def test_seeding_cases_takes_a_fixed_number_of_queries_whatever_the_count(
    django_assert_max_num_queries,
):
    seed()
    seed_cases(count=10, seed=1)  # warm the router's and the calendar's caches

    # The dashboard's and the supervision page's roll-ups rebuilt included.
    with django_assert_max_num_queries(40):
        seed_cases(count=1200, seed=2, batch_size=5000)

    assert Case.objects.count() == 1210


def test_the_roll_ups_read_the_seeded_rows_with_their_statistics():
    """Autovacuum cannot analyse rows of a transaction not yet committed: without their
    statistics, the supervision roll-up of a million-case seed looked up each reopen's
    resolve by reading every resolve before it (over 20 minutes; with them, 11 s)."""
    seed()
    with CaptureQueriesContext(connection) as queries:
        seed_cases(count=120, seed=3)
    statements = [q["sql"] for q in queries]
    (analyzed,) = [i for i, sql in enumerate(statements) if sql.startswith("ANALYZE")]
    rolled_up = [i for i, sql in enumerate(statements) if "figures" in sql and "INSERT" in sql]
    assert rolled_up and analyzed < min(rolled_up)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reltuples FROM pg_class"
            " WHERE relname IN ('cases_case', 'cases_caseevent', 'cases_caseassist')"
        )
        estimated = dict(cursor.fetchall())
    assert estimated == {
        "cases_case": Case.objects.count(),
        "cases_caseevent": CaseEvent.objects.count(),
        "cases_caseassist": CaseAssist.objects.count(),
    }


def test_without_copy_the_orm_writer_seeds_the_same_way(monkeypatch):
    """SQLite (the `make run` demo) has no COPY: the bulk_create path must hold too."""
    from cases.services.seeding import bulk

    seed()
    monkeypatch.setattr(bulk, "can_copy", lambda: False)

    seed_cases(count=120, seed=9)

    cases = list(Case.objects.all())
    assert len(cases) == 120
    for case in cases:
        assert_trail_matches_state(case, list(case.events.order_by("at", "id")))


def test_cases_seeded_across_new_year_are_numbered_by_the_year_they_were_reported():
    with time_machine.travel(
        datetime(2027, 1, 20, 10, tzinfo=ZoneInfo("Asia/Shanghai")), tick=False
    ):
        seed()
        seed_cases(count=300, seed=3)

        by_year = {}
        for number, created_at in Case.objects.values_list("number", "created_at"):
            year, serial = number.split("-")
            assert int(year) == timezone.localtime(created_at).year
            by_year.setdefault(year, []).append(int(serial))
    assert set(by_year) == {"2026", "2027"}
    for serials in by_year.values():
        assert sorted(serials) == list(range(1, len(serials) + 1))
    # Numbers follow the order of reporting within a year.
    ordered = list(Case.objects.order_by("created_at", "number").values_list("number", flat=True))
    assert ordered == sorted(ordered)


def late_rungs(case: Case, events: list[CaseEvent], calendar) -> set[tuple]:
    """(case, deadline_seq, kind, level, moment) of every rung a clock of this case passed before
    the step that stopped it, worked out from its audit trail alone."""
    steps = [event for event in events if event.to_state]
    late, seq = set(), 0
    for step, stop in zip(steps, steps[1:], strict=False):
        kind = CLOCK_FOR_STATE.get(step.to_state)
        if kind is None:
            continue
        seq += 1
        limit = limit_seconds(case, kind, calendar)
        for level, share in ((1, 1), (2, 1.5), (3, 2)):
            moment = calendar.add_working_seconds(step.at, int(limit * share))
            if moment < stop.at:
                late.add((case.pk, seq, kind, level, moment))
    return late


@pytest.mark.parametrize("copy", [True, False], ids=["copy", "orm"])
def test_seeded_cases_are_escalated_exactly_where_a_step_came_after_its_deadline(copy, monkeypatch):
    from cases.services.seeding import bulk

    seed()
    if not copy:
        monkeypatch.setattr(bulk, "can_copy", lambda: False)
    seed_cases(count=300, seed=42)

    calendar = get_calendar()
    cases = list(Case.objects.select_related("category").prefetch_related("events"))
    trails = {case.pk: sorted(case.events.all(), key=lambda e: (e.at, e.pk)) for case in cases}
    expected = set()
    for case in cases:
        expected |= late_rungs(case, trails[case.pk], calendar)
    escalations = list(Escalation.objects.all())
    assert {
        (e.case_id, e.deadline_seq, e.deadline_kind, e.level, e.due_at) for e in escalations
    } == expected
    # As the sweep writes them: each as of its rung's moment, with one audit row.
    audit = {
        event.data["escalation"]: event for event in CaseEvent.objects.filter(action="escalate")
    }
    assert len(audit) == len(escalations)
    for escalation in escalations:
        assert escalation.created_at == escalation.due_at >= escalation.deadline_at
        event = audit[escalation.pk]
        assert (event.case_id, event.at, event.data["level"]) == (
            escalation.case_id,
            escalation.created_at,
            escalation.level,
        )
        assert event.data["recipients"]
    assert not Escalation.objects.filter(messages__isnull=False).exists()

    # The dashboard's figures count those cases as late.
    late = {case_id for case_id, *_rung in expected}
    late_resolve = {case_id for case_id, _seq, kind, *_rung in expected if kind == "resolve"}
    closed = {case.pk for case in cases if case.state == State.CLOSED}
    resolved = {c.pk for c in cases if any(e.action == "resolve" for e in trails[c.pk])}
    assert closed & late and closed - late
    figures = with_rates(DailyFigures.objects.aggregate(**{f: Sum(f) for f in COUNTED_FIELDS}))
    assert figures["closed"] == len(closed)
    assert figures["on_time"] == len(closed - late)
    assert figures["resolve_due"] == len(resolved | late_resolve)
    assert figures["resolved_in_time"] == len(resolved - late_resolve)
    assert 0 < figures["on_time_rate"] < 100
    assert 0 < figures["resolution_rate"] < 100


def test_seed_demo_cases_include_open_whistles_with_summonses_answered_and_not():
    """One liaison per department and no whistle blown: trying a second liaison or a
    summons took hand work."""
    seed()
    out = seed("--cases", "20", "--seed", "3")

    assert Case.objects.count() == 20
    assert "cases: created 20" in out
    for name in ("liaison_urban2", "liaison_market2"):
        assert re.search(rf"^  {name}\s+{DEMO_PASSWORD}\s+liaison", out, re.M)
    showcase = [spec.description for spec in WHISTLE_CASES]
    summonses = CaseAssist.objects.filter(
        summoned=True, case__description__in=showcase
    ).select_related("case__category", "department")
    assert {a.case.state for a in summonses} == {State.ASSIGNED, State.IN_PROGRESS}
    waiting = {(a.case.category.code, a.department.code) for a in summonses if not a.reported_at}
    answered = {(a.case.category.code, a.department.code) for a in summonses if a.reported_at}
    assert waiting == {
        ("ENV-NOISE", "URBAN"),
        ("STREET-STALL", "POLICE"),
        ("SOCIAL-DISPUTE", "URBAN"),
        ("SOCIAL-DISPUTE", "CIVIL"),
    }
    assert answered == {("ENV-NOISE", "ECOLOGY"), ("STREET-STALL", "MARKET")}
    # Through the services: the dispatch says it blew the whistle, the reports are recorded.
    stall = Case.objects.get(description__in=showcase, category__code="STREET-STALL")
    actions = list(stall.events.order_by("at", "id").values_list("action", "actor__username"))
    assert actions == [
        ("report", "cx_caseworker"),
        ("route", None),
        ("dispatch", "cx_dispatcher"),
        ("report_for_duty", "liaison_market2"),
        ("accept", "liaison_urban2"),
    ]
    assert stall.events.get(action="dispatch").data["whistle"] is True


@pytest.mark.parametrize(
    ("count", "whistles"), [(2, 0), (len(STATE_WEIGHTS), 0), (len(STATE_WEIGHTS) + 2, 2)]
)
def test_seed_demo_makes_exactly_n_cases_whistles_only_past_one_of_each_state(count, whistles):
    seed()
    seed("--cases", str(count))
    assert Case.objects.count() == count
    showcase = [spec.description for spec in WHISTLE_CASES]
    assert Case.objects.filter(description__in=showcase).count() == whistles


def test_seeded_summonses_are_due_in_working_time_as_a_whistle_blown_by_hand():
    # They were due FALLBACK_DISPATCH_HOURS of wall-clock time after the dispatch: a
    # whistle blown on Friday at 16:00 was due that evening at 20:00, not Monday at 11:00.
    seed()
    seed("--cases", "300", "--seed", "42")
    calendar = get_calendar()
    summonses = CaseAssist.objects.filter(summoned=True).values_list("created_at", "report_due_at")
    assert len(summonses) >= 5
    for dispatched, due in summonses:
        assert due == calendar.add_working_seconds(dispatched, dispatch_limit_seconds())
