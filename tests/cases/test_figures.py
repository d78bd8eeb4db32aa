"""The dashboard's daily roll-up (`DailyFigures`): after any workflow step, escalation or
change of owner, a refresh leaves it equal to the figures computed case by case."""

import threading
import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cases import tasks
from cases.models import (
    CLOCK_STATES,
    TERMINAL_STATES,
    Case,
    DailyFigures,
    Escalation,
    FiguresMark,
    State,
    SupervisionFigures,
)
from cases.models.figures import COUNTED_FIELDS
from cases.selectors.dashboard import with_rates
from cases.services import figures as figures_service
from cases.services import workflow
from cases.services.escalation import escalation_sweep
from cases.services.figures import KEY, figures_refresh
from cases.services.supervision import supervision_refresh
from governance.celery import app as celery_app

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY_10 = datetime(2026, 11, 23, 10, tzinfo=SHANGHAI)


def rolled_up() -> dict:
    return {
        row[:4]: row[4:]
        for row in DailyFigures.objects.values_list(*KEY, *COUNTED_FIELDS)
        if row[4]  # a day's group with no case left has no row
    }


def computed_case_by_case() -> dict:
    """The roll-up's definitions, applied to each case in Python, as of the last refresh."""
    zone = ZoneInfo(settings.TIME_ZONE)
    now = FiguresMark.objects.get().refreshed_at
    rows = defaultdict(lambda: dict.fromkeys(COUNTED_FIELDS, 0))
    for case in Case.objects.all():
        actions = set(case.events.values_list("action", flat=True))
        to_pool = case.events.filter(
            Q(action="route") | Q(action="return", actor=None), to_state=State.FALLBACK
        ).exists()
        late = set(case.escalations.filter(level__gt=0).values_list("deadline_kind", flat=True))
        day = timezone.localtime(case.created_at, zone).date()
        row = rows[(day, case.township_id, case.lead_department_id, case.cell_id)]
        closed = case.state == State.CLOSED
        row["total"] += 1
        row["open"] += case.state not in TERMINAL_STATES
        row["overdue"] += case.state in CLOCK_STATES and case.due_at < now
        row["closed"] += closed
        row["on_time"] += closed and not late
        row["accept_due"] += "accept" in actions or "accept" in late
        row["accepted_in_time"] += "accept" in actions and "accept" not in late
        row["resolve_due"] += "resolve" in actions or "resolve" in late
        row["resolved_in_time"] += "resolve" in actions and "resolve" not in late
        row["fallback"] += to_pool
        row["returned"] += case.events.filter(action="return", actor__isnull=False).exists()
        row["satisfaction_sum"] += case.satisfaction or 0
        row["satisfaction_count"] += case.satisfaction is not None
    return {key: tuple(row.values()) for key, row in rows.items()}


def refreshed_and_checked() -> figures_service.Refresh:
    refresh = figures_refresh()
    assert not refresh.rebuilt
    assert rolled_up() == computed_case_by_case()
    return refresh


@pytest.fixture
def at_monday(db):
    """The clock at Monday 10:00, moved on by the test (deadlines are in working hours)."""
    with time_machine.travel(MONDAY_10, tick=False) as traveller:
        yield traveller


def test_the_roll_up_follows_each_workflow_step(at_monday, report, cast, world):
    figures_refresh()  # from here on, only the days of what changed are recomputed
    case = report()
    assert refreshed_and_checked().days == [MONDAY_10.date()]
    workflow.case_accept(case=case, actor=cast.liaison)
    refreshed_and_checked()
    workflow.case_resolve(case=case, actor=cast.liaison, note="好了")
    refreshed_and_checked()
    workflow.case_reopen(case=case, actor=cast.caseworker, reason="没修好")
    refreshed_and_checked()
    workflow.case_resolve(case=case, actor=cast.liaison, note="这次好了")
    workflow.case_verify(case=case, actor=cast.caseworker, satisfaction=5)
    refreshed_and_checked()
    assert rolled_up()[(MONDAY_10.date(), world.north.pk, world.urban.pk, world.n1.pk)] == (
        1, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 5, 1
    )  # fmt: skip


def test_a_case_that_changes_department_moves_from_one_row_to_another(
    at_monday, report, cast, world
):
    case = report()
    report()  # a neighbour that stays with CG
    figures_refresh()
    workflow.case_return(case=case, actor=cast.liaison, reason="不归我")
    refreshed_and_checked()
    assert (MONDAY_10.date(), world.north.pk, None, world.n1.pk) in rolled_up()
    workflow.case_dispatch(case=case, actor=cast.dispatcher, lead=world.market)
    refreshed_and_checked()
    rows = rolled_up()
    assert rows[(MONDAY_10.date(), world.north.pk, world.market.pk, world.n1.pk)][0] == 1
    assert rows[(MONDAY_10.date(), world.north.pk, world.urban.pk, world.n1.pk)][0] == 1
    assert (MONDAY_10.date(), world.north.pk, None, world.n1.pk) not in rows


def test_an_escalation_alone_changes_the_roll_up(at_monday, report, cast):
    """The sweep writes escalations without saving the case: a reopened case that misses
    its new resolve deadline is no longer resolved in time."""
    case = report()
    workflow.case_accept(case=case, actor=cast.liaison)
    workflow.case_resolve(case=case, actor=cast.liaison, note="好了")
    workflow.case_reopen(case=case, actor=cast.caseworker, reason="没修好")
    case.refresh_from_db()
    updated_at = case.updated_at
    at_monday.move_to(case.due_at + timedelta(minutes=1))
    figures_refresh()  # the case's last save is behind the mark now
    before = rolled_up()
    escalation_sweep(now=timezone.now())
    case.refresh_from_db()
    assert case.updated_at == updated_at and Escalation.objects.filter(case=case).exists()
    refresh = refreshed_and_checked()
    assert refresh.days == [MONDAY_10.date()]
    assert rolled_up() != before


def test_a_case_never_accepted_counts_against_the_response_rate_and_a_reminder_does_not(
    at_monday, report, cast, world
):
    ignored, reminded = report(), report()
    at_monday.move_to(reminded.remind_at + timedelta(minutes=1))
    escalation_sweep(now=timezone.now())  # the due-soon reminder of both
    workflow.case_accept(case=reminded, actor=cast.liaison)  # in time
    at_monday.move_to(ignored.due_at + timedelta(minutes=1))
    escalation_sweep(now=timezone.now())  # level 1 on the one never accepted
    assert Escalation.objects.filter(case=ignored, level=1).exists()
    figures_refresh()
    assert rolled_up() == computed_case_by_case()
    key = (MONDAY_10.date(), world.north.pk, world.urban.pk, world.n1.pk)
    row = with_rates(dict(zip(COUNTED_FIELDS, rolled_up()[key], strict=True)))
    assert (row["accept_due"], row["accepted_in_time"], row["response_rate"]) == (2, 1, 50.0)


def test_a_refresh_with_nothing_changed_recomputes_nothing(at_monday, report, cast):
    figures_refresh()
    case = report()
    assert figures_refresh().days == [MONDAY_10.date()]
    assert figures_refresh().days == []  # at once: the case is counted as it is
    workflow.case_accept(case=case, actor=cast.liaison)  # at the same instant, still
    assert figures_refresh().days == [MONDAY_10.date()]


def test_a_refresh_is_a_fixed_number_of_statements_however_many_days_changed(
    at_monday, report, cast
):
    figures_refresh()
    report()
    with CaptureQueriesContext(connection) as one_day:
        assert len(figures_refresh().days) == 1
    for days_back in (3, 2, 1):
        at_monday.move_to(MONDAY_10 - timedelta(days=days_back))
        report()
    at_monday.move_to(MONDAY_10 + timedelta(minutes=5))
    for case in Case.objects.all():
        workflow.case_accept(case=case, actor=cast.liaison)
    with CaptureQueriesContext(connection) as four_days:
        assert len(figures_refresh().days) == 4
    assert len(four_days.captured_queries) == len(one_day.captured_queries)
    assert rolled_up() == computed_case_by_case()


def test_a_rebuild_equals_the_incremental_roll_up(at_monday, report, cast, world):
    for cell in (world.n1, world.n2, world.n3):
        workflow.case_accept(case=report(cell=cell), actor=cast.liaison)
    report(category=None)
    figures_refresh()
    incremental = rolled_up()
    assert figures_refresh(everything=True).rebuilt
    assert rolled_up() == incremental == computed_case_by_case()


def test_another_time_zone_rebuilds_every_day(at_monday, report, settings):
    report()
    figures_refresh()
    FiguresMark.objects.update(time_zone="UTC")
    assert figures_refresh().rebuilt


def test_the_beat_task_refreshes_the_roll_up(report, settings):
    figures_refresh()
    supervision_refresh()
    report()
    refreshed = {"rebuilt": False, "days": 1, "rows": 1, "supervision_rows": 1}
    assert tasks.refresh_figures() == refreshed
    assert rolled_up() == computed_case_by_case()
    # The supervision page's roll-up too: the case was given to its lead.
    assert SupervisionFigures.objects.get().given == 1
    entry = settings.CELERY_BEAT_SCHEDULE["refresh-figures"]
    assert entry["task"] == tasks.refresh_figures.name in celery_app.tasks
    assert entry["schedule"] == 60.0


@pytest.mark.django_db(transaction=True)
def test_changes_committed_after_a_refresh_looked_are_picked_up_by_the_next(
    report, cast, monkeypatch
):
    """A transaction open during a refresh, whose `updated_at` and escalation id are below
    what the refresh sees committed, is counted once it commits (with no clock slack to
    hide behind)."""
    monkeypatch.setattr(figures_service, "CLOCK_SLACK", timedelta(0))
    with time_machine.travel(timezone.now() - timedelta(days=3)):  # another day's row
        reopened, other = report(), report()
        for case in (reopened, other):
            workflow.case_accept(case=case, actor=cast.liaison)
            workflow.case_resolve(case=case, actor=cast.liaison, note="好了")
            workflow.case_reopen(case=case, actor=cast.caseworker, reason="没修好")
    fresh = report()
    figures_refresh()
    written, refreshed = threading.Event(), threading.Event()

    def slow_writer():  # a liaison's step and a sweep's escalation, committed late
        try:
            with transaction.atomic():
                workflow.case_accept(case=Case.objects.get(pk=fresh.pk), actor=cast.liaison)
                escalate(reopened)
                written.set()
                refreshed.wait(timeout=10)
        finally:
            connection.close()

    thread = threading.Thread(target=slow_writer)
    thread.start()
    assert written.wait(timeout=10)
    escalate(other)  # committed, with an id above the open transaction's
    figures_refresh()
    refreshed.set()
    thread.join(timeout=10)
    assert figures_refresh().days
    assert rolled_up() == computed_case_by_case()
    totals = [sum(column) for column in zip(*rolled_up().values(), strict=True)]
    assert totals[FIGURES_INDEX["accept_due"]] == 3
    assert totals[FIGURES_INDEX["resolved_in_time"]] == 0


def escalate(case: Case) -> Escalation:
    """The row a sweep writes when a case's resolve deadline passes."""
    return Escalation.objects.create(
        case=case,
        deadline_seq=case.deadline_seq,
        deadline_kind="resolve",
        level=1,
        due_at=timezone.now(),
        deadline_at=timezone.now(),
        sweep_id=uuid.uuid4(),
        township_id=case.township_id,
    )


FIGURES_INDEX = {name: index for index, name in enumerate(COUNTED_FIELDS)}


def test_cases_become_overdue_in_the_roll_up_as_their_deadline_passes(at_monday, report):
    case = report()
    at_monday.shift(timedelta(minutes=1))
    figures_refresh()
    at_monday.shift(timedelta(minutes=1))
    figures_refresh()  # the case's last save is behind the mark: nothing to recompute
    at_monday.move_to(case.due_at + timedelta(seconds=1))
    refresh = figures_refresh()
    assert refresh.days == [] and refresh.rows == 1  # one row's count moved, nothing else
    assert rolled_up() == computed_case_by_case()
    assert sum(row[FIGURES_INDEX["overdue"]] for row in rolled_up().values()) == 1


def test_a_change_in_one_township_recomputes_that_townships_day_only(
    at_monday, report, cast, world
):
    north = report()
    report(reporter=cast.south_caseworker, cell=world.s1)
    figures_refresh()
    south_rows = list(DailyFigures.objects.filter(township=world.south).values_list("pk"))
    workflow.case_accept(case=north, actor=cast.liaison)
    refreshed_and_checked()
    assert list(DailyFigures.objects.filter(township=world.south).values_list("pk")) == south_rows
