"""More races on real database connections, one thread each: the loser of each is told
why in a sentence (never a deadlock or a 500), and the database keeps its invariants."""

import threading
import time
from decimal import Decimal

import pytest
from django.db import transaction

from cases.models import Case, CaseEvent, ExtensionRequest, State
from cases.services import extensions, liaison, transitions, workflow
from cases.services.transitions import WorkflowError
from tests.calendar_years import UNKNOWN_YEAR
from tests.cases.test_concurrency import run_in_thread

pytestmark = pytest.mark.django_db(transaction=True)


def join(*threads):
    for thread in threads:
        thread.join(timeout=15)
        assert not thread.is_alive()


def test_an_extension_decided_while_the_case_is_resolved_does_not_deadlock(
    report, cast, monkeypatch
):
    case = workflow.case_accept(case=report(), actor=cast.liaison)
    request = extensions.extension_request(
        case=case, actor=cast.liaison, reason="需要协调物业", extra_days=Decimal("2")
    )
    case_updated = threading.Event()
    lapse = transitions.extension_requests_lapse

    def lapse_a_moment_later(case, *, now):
        # The resolve has updated the case and is about to lapse the request: the
        # decision comes in now.
        case_updated.set()
        time.sleep(0.5)
        lapse(case, now=now)

    monkeypatch.setattr(transitions, "extension_requests_lapse", lapse_a_moment_later)
    results = {}

    def resolve():
        copy = Case.objects.get(pk=case.pk)
        return workflow.case_resolve(case=copy, actor=cast.liaison, note="已清理").state

    def decide():
        case_updated.wait(timeout=5)
        return extensions.extension_decide(
            request=request, approve=True, address="cg-boss@example.org"
        ).status

    join(run_in_thread(resolve, results, "resolve"), run_in_thread(decide, results, "decide"))

    assert results["resolve"] == State.RESOLVED
    assert isinstance(results["decide"], WorkflowError), results["decide"]
    assert "already decided" in str(results["decide"])
    request.refresh_from_db()
    assert request.status == ExtensionRequest.Status.LAPSED
    actions = list(case.events.order_by("pk").values_list("action", flat=True))
    assert actions[-2:] == ["resolve", "extension_lapse"]


def test_two_cases_cancelled_at_once_as_each_others_duplicate_leave_one_open(report, cast):
    first, second = report(description="垃圾 一"), report(description="垃圾 二")
    barrier = threading.Barrier(2)
    results = {}

    def cancel(case, original):
        def target():
            copy, original_copy = Case.objects.get(pk=case.pk), Case.objects.get(pk=original.pk)
            barrier.wait(timeout=5)
            return workflow.case_cancel(
                case=copy, actor=cast.supervisor, reason="重复", duplicate_of=original_copy
            ).state

        return target

    join(
        run_in_thread(cancel(first, second), results, "first"),
        run_in_thread(cancel(second, first), results, "second"),
    )

    loser = next(key for key, outcome in results.items() if isinstance(outcome, Exception))
    assert isinstance(results[loser], WorkflowError)
    assert "is cancelled itself" in str(results[loser])
    states = dict(Case.objects.values_list("description", "state"))
    assert sorted(states.values()) == [State.ASSIGNED, State.CANCELLED]
    assert CaseEvent.objects.filter(action="cancel").count() == 1


def test_a_report_for_duty_as_the_case_is_cancelled_is_refused(report, cast, world):
    case = report(category=world.lamp, description="路灯不亮")  # no rule: the pool
    workflow.case_dispatch(
        case=case, actor=cast.dispatcher, lead=world.market, assisting=[world.urban], whistle=True
    )
    cancelled, reporting = threading.Event(), threading.Event()
    results = {}

    def cancel():
        # Cancel, then hold the transaction open while the summoned department reports.
        with transaction.atomic():
            copy = Case.objects.get(pk=case.pk)
            workflow.case_cancel(case=copy, actor=cast.dispatcher, reason="重复上报")
            cancelled.set()
            reporting.wait(timeout=5)
            time.sleep(0.3)
        return copy.state

    def report_for_duty():
        cancelled.wait(timeout=5)
        reporting.set()
        return liaison.assist_report_for_duty(case=case, actor=cast.liaison, comment="已到岗")

    join(run_in_thread(cancel, results, "cancel"), run_in_thread(report_for_duty, results, "duty"))

    assert results["cancel"] == State.CANCELLED
    assert isinstance(results["duty"], WorkflowError), results["duty"]
    assert "finished" in str(results["duty"])
    assert not case.events.filter(action="report_for_duty").exists()
    assert case.assists.get(department=world.urban).reported_at is None


def test_a_case_accepted_while_a_holiday_moves_its_clock_keeps_one_clock(report, cast, monkeypatch):
    """The holiday reads the running clocks, moves them in memory and writes them back;
    an accept saved in between must not have its new clock overwritten with the old one."""
    import time_machine

    from departments.calendar import WorkingTimeRuler
    from departments.models import Holiday
    from tests.cases.test_deadlines import at

    with time_machine.travel(at(2, 5, 16, year=UNKNOWN_YEAR), tick=False):
        case = report()  # weekends only; 2 working hours to accept, due Monday 10:00
    assert case.due_at == at(2, 8, 10, year=UNKNOWN_YEAR)
    clocks_read, holiday_thread = threading.Event(), threading.local()
    micros_after = WorkingTimeRuler.micros_after  # moves a clock in memory

    def slowly_in_the_holiday(self, *args, **kwargs):
        if getattr(holiday_thread, "here", False) and not clocks_read.is_set():
            clocks_read.set()
            time.sleep(0.5)  # the accept comes in now
        return micros_after(self, *args, **kwargs)

    monkeypatch.setattr(WorkingTimeRuler, "micros_after", slowly_in_the_holiday)
    results = {}

    def holiday():
        holiday_thread.here = True
        with transaction.atomic():
            return Holiday.objects.create(
                date=at(2, 8, 0, year=UNKNOWN_YEAR).date(), kind="holiday"
            )

    def accept():
        clocks_read.wait(timeout=5)
        return workflow.case_accept(case=Case.objects.get(pk=case.pk), actor=cast.liaison)

    with time_machine.travel(at(2, 5, 17, year=UNKNOWN_YEAR), tick=True):
        join(run_in_thread(holiday, results, "holiday"), run_in_thread(accept, results, "accept"))

    assert isinstance(results["holiday"], Holiday), results["holiday"]
    assert isinstance(results["accept"], WorkflowError), results["accept"]
    assert "changed while you were acting" in str(results["accept"])
    # Still waiting for acceptance, its clock moved a working day by the holiday.
    case.refresh_from_db()
    assert (case.state, case.deadline_kind, case.due_at) == (
        State.ASSIGNED,
        "accept",
        at(2, 9, 10, year=UNKNOWN_YEAR),
    )


def test_a_holiday_added_while_a_sweep_commits_waits_for_it_instead_of_deadlocking(
    report, cast, monkeypatch
):
    """The sweep raises B's level (B's row is locked) and, at its commit, checks that the
    case of A's reminder exists (A's row is share-locked then). The holiday locks the cases
    whose clocks it moves in their order, A first. Interleaved, each waited for the other."""
    import time_machine

    from cases.services import escalation, escalation_notices
    from departments.models import Holiday
    from tests.cases.test_deadlines import at

    # A year nobody knows: weekends only. Rubbish is accepted within 2 working hours.
    with time_machine.travel(at(2, 5, 15, year=UNKNOWN_YEAR), tick=False):
        reminded = report()  # due Friday 17:00: reminded at 16:30
    with time_machine.travel(at(2, 5, 14, 30, year=UNKNOWN_YEAR), tick=False):
        escalated = report()  # due Friday 16:30: level 1
    assert reminded.pk < escalated.pk
    sweep_written, holiday_started = threading.Event(), threading.Event()
    write_audit = escalation_notices.write_audit

    def then_wait_for_the_holiday(*args, **kwargs):
        write_audit(*args, **kwargs)
        sweep_written.set()
        holiday_started.wait(timeout=5)
        time.sleep(0.5)  # the holiday's transaction takes its locks now

    monkeypatch.setattr(escalation_notices, "write_audit", then_wait_for_the_holiday)
    results = {}

    def sweep():
        return escalation.escalation_sweep(now=at(2, 5, 16, 45, year=UNKNOWN_YEAR))

    def holiday():
        sweep_written.wait(timeout=5)
        holiday_started.set()
        with transaction.atomic():
            # Monday, which both clocks' last rungs reach.
            return Holiday.objects.create(
                date=at(2, 8, 0, year=UNKNOWN_YEAR).date(), kind="holiday"
            )

    with time_machine.travel(at(2, 5, 16, 45, year=UNKNOWN_YEAR), tick=True):
        join(run_in_thread(sweep, results, "sweep"), run_in_thread(holiday, results, "holiday"))

    assert isinstance(results["holiday"], Holiday), results["holiday"]
    assert not isinstance(results["sweep"], Exception), results["sweep"]
    assert sorted((e.case_id, e.level) for e in results["sweep"].escalations) == [
        (reminded.pk, 0),
        (escalated.pk, 1),
    ]
    # The holiday came second: it moved the rungs still ahead by its working day.
    reminded.refresh_from_db()
    escalated.refresh_from_db()
    assert (reminded.escalate_3_at, escalated.escalate_3_at) == (
        at(2, 9, 11, year=UNKNOWN_YEAR),
        at(2, 9, 10, 30, year=UNKNOWN_YEAR),
    )
    assert escalated.escalation_level == 1
