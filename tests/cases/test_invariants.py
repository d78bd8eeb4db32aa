"""Workflow invariants (SPEC §2, §4) checked by a hypothesis state machine that drives the
real services on PostgreSQL: random reports, transitions by random members of the cast
(allowed or not), stale versions, missing reasons, and sweeps as the clock moves on.

After every step:
- every open case has exactly one owner (a department, or its township's pool);
- every state change has exactly one audit row and every audit row is a change: the
  transition rows of a case form one unbroken chain ending in its current state, and
  their number is the case's version;
- cases that are resolved, closed, cancelled or suspended have no running clock and are
  never escalated; every rung that is due has been recorded exactly once;
- a deadline is never set in the past, but for a clock resumed while overdue: that one
  stands exactly as overdue, in working time, as when it stopped;
- each case stores whether a dispatcher chose its lead as its audit trail says.
"""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import IntegrityError, transaction
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from cases.models import CLOCK_STATES, TERMINAL_STATES, Case, CaseEvent, Escalation, State
from cases.services import workflow
from cases.services.escalation import RUNG_COLUMNS, escalation_sweep
from cases.services.intake import case_report
from cases.services.transitions import USER_TRANSITIONS, WorkflowError, available_transitions
from departments.calendar import get_calendar
from tests.cases.flywheel_support import disagreements

START = datetime(2026, 11, 23, 9, 30, tzinfo=ZoneInfo("Asia/Shanghai"))  # a Monday
CLOCK_FIELDS = ("remind_at", "due_at", "escalate_2_at", "escalate_3_at")
FORWARD = {"dispatch", "accept", "resolve", "verify"}
NON_ESCALATING = (State.RESOLVED, State.CLOSED, State.CANCELLED, State.SUSPENDED)
CAST_MEMBERS = [
    "caseworker",
    "dispatcher",
    "liaison",
    "other_liaison",
    "supervisor",
    "district_supervisor",
    "admin",
    "south_caseworker",
    "south_dispatcher",
]
BOUNDS = settings(
    max_examples=15,
    stateful_step_count=20,
    deadline=None,
    database=None,  # no .hypothesis directory in the work tree
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def snapshot(case: Case) -> dict:
    return {f.attname: getattr(case, f.attname) for f in Case._meta.concrete_fields}


def transition_events(case_pk: int):
    return list(CaseEvent.objects.filter(case_id=case_pk).exclude(to_state="").order_by("at", "id"))


def make_machine(world, cast):
    users = {name: getattr(cast, name) for name in CAST_MEMBERS}
    categories = {
        "rubbish": world.rubbish,  # one lead: assigned
        "stall": world.stall,  # two leads: overlap, the pool
        "lamp": world.lamp,  # no rule: the pool
        "none": None,  # unclassified: the pool
    }
    departments = [world.urban, world.market, world.housing]
    cells = [world.n1, world.n2, world.s1]

    class WorkflowMachine(RuleBasedStateMachine):
        cases = Bundle("cases")

        def __init__(self):
            super().__init__()
            # Each example starts from the fixtures' world and leaves nothing behind.
            self.savepoint = transaction.savepoint()
            self.traveller = time_machine.travel(START, tick=False)
            self.clock = self.traveller.start()
            self.now = START

        def teardown(self):
            self.traveller.stop()
            transaction.savepoint_rollback(self.savepoint)

        # -- steps ------------------------------------------------------------------------

        reports = {
            "target": cases,
            "category": st.sampled_from(sorted(categories)),
            "cell": st.sampled_from(cells),
            "reporter": st.sampled_from(["caseworker", "south_caseworker"]),
        }

        @initialize(**reports)
        def first_report(self, category, cell, reporter):
            return self.report(category, cell, reporter)

        @rule(**reports)
        def report(self, category, cell, reporter):
            case = case_report(
                reporter=users[reporter],
                category=categories[category],
                cell=cell,
                description="路边堆放垃圾",
                reporter_name="张三",
                reporter_phone="13800138000",
            )
            assert case.state in (State.ASSIGNED, State.FALLBACK)
            self.check_deadlines_set(case, previous=None)
            return case.pk

        @rule(
            case_pk=cases,
            name=st.sampled_from(USER_TRANSITIONS),
            actor=st.sampled_from(CAST_MEMBERS),
            lead=st.sampled_from(departments),
            text=st.sampled_from(["理由充分", "", "   "]),
            stale=st.booleans(),
        )
        def fire(self, case_pk, name, actor, lead, text, stale):
            self.attempt(case_pk, name, actor, lead, text, stale)

        @rule(case_pk=cases, steps=st.integers(min_value=1, max_value=4), data=st.data())
        def advance(self, case_pk, steps, data):
            # Random actors are mostly refused; this step fires one to four allowed
            # transitions in a row, mostly forward ones, so the machine also reaches
            # resolved, closed, suspended and returned cases.
            for _step in range(steps):
                case = Case.objects.get(pk=case_pk)
                allowed: dict[str, list[str]] = {}
                for actor in CAST_MEMBERS:
                    for name in available_transitions(case, users[actor]):
                        allowed.setdefault(name, []).append(actor)
                if not allowed:
                    return
                forward = sorted(FORWARD & allowed.keys())
                if forward and data.draw(st.booleans(), label="forward"):
                    name = data.draw(st.sampled_from(forward), label="transition")
                else:
                    name = data.draw(st.sampled_from(sorted(allowed)), label="transition")
                actor = data.draw(st.sampled_from(allowed[name]), label="actor")
                lead = data.draw(st.sampled_from(departments), label="lead")
                self.attempt(case_pk, name, actor, lead, "理由充分", stale=False)

        def attempt(self, case_pk, name, actor, lead, text, stale):
            case = Case.objects.get(pk=case_pk)
            before = snapshot(case)
            events_before = len(transition_events(case_pk))
            user = users[actor]
            version = case.version - 1 if stale else case.version
            calls = {
                "dispatch": lambda: workflow.case_dispatch(
                    case=case, actor=user, lead=lead, expected_version=version
                ),
                "accept": lambda: workflow.case_accept(
                    case=case, actor=user, expected_version=version
                ),
                "return": lambda: workflow.case_return(
                    case=case, actor=user, reason=text, expected_version=version
                ),
                "resolve": lambda: workflow.case_resolve(
                    case=case, actor=user, note=text, expected_version=version
                ),
                "verify": lambda: workflow.case_verify(
                    case=case, actor=user, satisfaction=5, expected_version=version
                ),
                "reopen": lambda: workflow.case_reopen(
                    case=case, actor=user, reason=text, expected_version=version
                ),
                "suspend": lambda: workflow.case_suspend(
                    case=case, actor=user, reason=text, expected_version=version
                ),
                "resume": lambda: workflow.case_resume(
                    case=case, actor=user, expected_version=version
                ),
                "cancel": lambda: workflow.case_cancel(
                    case=case, actor=user, reason=text, expected_version=version
                ),
            }
            try:
                calls[name]()
            except WorkflowError:
                # A refusal changes nothing: not the row, not the audit trail.
                after = Case.objects.get(pk=case_pk)
                assert snapshot(after) == before
                assert len(transition_events(case_pk)) == events_before
                return
            assert not stale, "a stale version must be refused"
            event(f"{name}: {before['state']} -> {Case.objects.get(pk=case_pk).state}")
            after = Case.objects.get(pk=case_pk)
            events = transition_events(case_pk)
            assert len(events) == events_before + 1, "one state change, one audit row"
            assert (events[-1].from_state, events[-1].to_state) == (before["state"], after.state)
            assert events[-1].actor_id == user.pk
            self.check_deadlines_set(after, previous=before)

        @rule(hours=st.sampled_from([1, 2, 3, 5, 8, 24, 72]))
        def sweep(self, hours):
            self.now += timedelta(hours=hours)
            self.clock.move_to(self.now)
            states = dict(Case.objects.values_list("pk", "state"))
            first = escalation_sweep(now=self.now)
            for escalation in first.escalations:
                assert states[escalation.case_id] in CLOCK_STATES, (
                    f"a {states[escalation.case_id]} case was escalated"
                )
            # A second sweep at the same moment finds nothing left to do.
            assert escalation_sweep(now=self.now).escalations == []
            self.check_every_due_rung_recorded()

        # -- checks -----------------------------------------------------------------------

        def check_deadlines_set(self, case: Case, *, previous: dict | None):
            moments = [getattr(case, name) for name in CLOCK_FIELDS]
            if case.state not in CLOCK_STATES:
                assert moments == [None] * 4, f"a {case.state} case has a running clock"
                return
            assert None not in moments
            changed = previous is None or any(
                previous[name] != getattr(case, name) for name in CLOCK_FIELDS
            )
            paused = previous.get("paused_remaining_seconds") if previous else None
            if changed and paused is not None:
                # Resumed: the clock keeps the working time it had, overdue or left; a rung
                # it had passed (the reminder, or levels when overdue) stays behind it.
                left = get_calendar().working_seconds_between(self.now, case.due_at)
                assert left == paused, f"resumed with {left} s left, paused with {paused} s"
            elif changed:
                assert all(moment >= self.now for moment in moments), (
                    f"a deadline was set in the past: {moments} before {self.now}"
                )
            assert moments == sorted(moments)

        def check_every_due_rung_recorded(self):
            for case in Case.objects.filter(state__in=CLOCK_STATES):
                due = [
                    level
                    for level, column in RUNG_COLUMNS.items()
                    if level > 0 and getattr(case, column) <= self.now
                ]
                recorded = set(
                    Escalation.objects.filter(
                        case=case, deadline_seq=case.deadline_seq, level__gt=0
                    ).values_list("level", flat=True)
                )
                assert set(due) <= recorded, f"{case.number}: due {due}, recorded {recorded}"

        @invariant()
        def every_open_case_has_exactly_one_owner(self):
            for case in Case.objects.exclude(state__in=TERMINAL_STATES):
                assert case.state != State.REPORTED, "reported is transient"
                assert case.township_id is not None
                in_pool = case.state == State.FALLBACK or (
                    case.state == State.SUSPENDED and case.suspended_from == State.FALLBACK
                )
                has_department = case.lead_department_id is not None
                assert in_pool != has_department, (
                    f"{case.number} ({case.state}): pool={in_pool} department={has_department}"
                )

        @invariant()
        def every_change_has_exactly_one_audit_row(self):
            chains = {}
            for row in CaseEvent.objects.exclude(to_state="").order_by("at", "id"):
                chains.setdefault(row.case_id, []).append(row)
            for case in Case.objects.all():
                events = chains[case.pk]
                assert events[0].action == "report"
                assert events[0].to_state == State.REPORTED
                for earlier, later in zip(events, events[1:], strict=False):
                    assert later.from_state == earlier.to_state, f"a gap in {case.number}"
                    assert later.from_state != later.to_state, "an audit row without a change"
                assert events[-1].to_state == case.state
                # Every save after the first bumps the version: one save, one row.
                assert case.version == len(events) - 1

        @invariant()
        def every_case_stores_the_flywheels_verdict_of_its_audit_trail(self):
            # Whether a dispatcher chose the lead: the data flywheel reads the column, no
            # longer the audit trail it must agree with.
            assert disagreements() == []

        @invariant()
        def no_case_escalated_outside_a_running_clock(self):
            for escalation in Escalation.objects.select_related("case"):
                case = escalation.case
                if case.state in NON_ESCALATING:
                    # Only rungs from before it left its clock state.
                    left = (
                        CaseEvent.objects.filter(case=case, to_state=case.state)
                        .order_by("-at", "-id")
                        .first()
                    )
                    assert escalation.created_at <= left.at
            escalated = CaseEvent.objects.filter(action__in=["escalate", "remind"]).count()
            assert escalated == Escalation.objects.count(), "one audit row per escalation"

    return WorkflowMachine


@pytest.mark.django_db
def test_workflow_invariants_hold_under_random_steps(world, cast):
    run_state_machine_as_test(make_machine(world, cast), settings=BOUNDS)


@pytest.mark.django_db
def test_database_refuses_an_assigned_case_without_a_lead(report):
    case = report()
    assert case.state == State.ASSIGNED
    with pytest.raises(IntegrityError, match="case_assigned_has_lead"), transaction.atomic():
        Case.objects.filter(pk=case.pk).update(lead_department=None)
    with pytest.raises(IntegrityError, match="case_assigned_has_lead"), transaction.atomic():
        Case.objects.filter(pk=case.pk).update(state=State.IN_PROGRESS, lead_department=None)
    case.refresh_from_db()
    assert case.lead_department_id is not None


@pytest.mark.django_db
def test_database_refuses_a_fallback_case_with_a_lead(report, world):
    case = report(category=world.lamp)
    assert case.state == State.FALLBACK
    with pytest.raises(IntegrityError, match="case_fallback_has_no_lead"), transaction.atomic():
        Case.objects.filter(pk=case.pk).update(lead_department=world.urban)
    case.refresh_from_db()
    assert case.lead_department_id is None
