"""The state machine of SPEC §2: every transition allowed and refused, by state and by
role, each with its audit row, and nothing changed by a refusal."""

import pytest
from django_fsm import can_proceed

from cases.models import Case, CaseEvent, State
from cases.services import workflow
from cases.services.transitions import (
    NotPermitted,
    StaleCase,
    TransitionNotAllowed,
    WorkflowError,
    available_transitions,
    transition_method,
)

ALL_ROLES = [
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

# transition → (source states, members of the cast who may fire it on a north case led by CG)
MATRIX = {
    "dispatch": ({State.FALLBACK}, {"dispatcher", "supervisor", "district_supervisor"}),
    "accept": ({State.ASSIGNED}, {"liaison"}),
    "return": ({State.ASSIGNED, State.IN_PROGRESS}, {"liaison"}),
    "resolve": ({State.IN_PROGRESS}, {"liaison"}),
    "verify": ({State.RESOLVED}, {"caseworker"}),
    "reopen": ({State.RESOLVED}, {"caseworker"}),
    "suspend": (
        {State.FALLBACK, State.ASSIGNED, State.IN_PROGRESS},
        {"supervisor", "district_supervisor"},
    ),
    "resume": ({State.SUSPENDED}, {"supervisor", "district_supervisor"}),
    "cancel": (
        {State.FALLBACK, State.ASSIGNED, State.IN_PROGRESS, State.SUSPENDED},
        {"dispatcher", "supervisor", "district_supervisor"},
    ),
}


def fire(name, case, user, world):
    """Fire transition `name` through its service with valid arguments."""
    calls = {
        "dispatch": lambda: workflow.case_dispatch(case=case, actor=user, lead=world.urban),
        "accept": lambda: workflow.case_accept(case=case, actor=user),
        "return": lambda: workflow.case_return(case=case, actor=user, reason="不属于我局职责"),
        "resolve": lambda: workflow.case_resolve(case=case, actor=user, note="已清理完毕"),
        "verify": lambda: workflow.case_verify(case=case, actor=user, satisfaction=4),
        "reopen": lambda: workflow.case_reopen(case=case, actor=user, reason="现场仍有垃圾"),
        "suspend": lambda: workflow.case_suspend(case=case, actor=user, reason="待专项整治"),
        "resume": lambda: workflow.case_resume(case=case, actor=user),
        "cancel": lambda: workflow.case_cancel(case=case, actor=user, reason="重复上报"),
    }
    return calls[name]()


@pytest.fixture
def case_in(report, cast, world):
    """A north-township case led by CG (where it has a lead), driven into `state`."""

    def _case_in(state) -> Case:
        if state == State.FALLBACK:
            return report(category=world.lamp)  # no rule: the pool
        case = report()
        if state == State.ASSIGNED:
            return case
        if state in (State.SUSPENDED, State.CANCELLED):
            if state == State.SUSPENDED:
                workflow.case_suspend(case=case, actor=cast.supervisor, reason="挂账")
            else:
                workflow.case_cancel(case=case, actor=cast.dispatcher, reason="重复")
            return case
        workflow.case_accept(case=case, actor=cast.liaison)
        if state == State.IN_PROGRESS:
            return case
        workflow.case_resolve(case=case, actor=cast.liaison, note="已处理")
        if state == State.RESOLVED:
            return case
        workflow.case_verify(case=case, actor=cast.caseworker)
        return case

    return _case_in


REACHABLE = [s for s in State if s != State.REPORTED]


@pytest.mark.parametrize("name", MATRIX)
@pytest.mark.parametrize("state", REACHABLE)
def test_each_transition_is_offered_only_from_its_source_states(name, state, case_in):
    case = case_in(state)
    sources, _ = MATRIX[name]

    assert can_proceed(transition_method(case, name)) == (state in sources)


@pytest.mark.parametrize("name", MATRIX)
def test_each_transition_is_refused_from_other_states_and_changes_nothing(
    name, case_in, cast, world
):
    sources, allowed = MATRIX[name]
    wrong_state = next(
        s for s in (State.CLOSED, State.CANCELLED, State.FALLBACK) if s not in sources
    )
    case = case_in(wrong_state)
    before = (case.state, case.version, case.events.count())
    user = getattr(cast, sorted(allowed)[0])

    with pytest.raises(TransitionNotAllowed):
        fire(name, case, user, world)

    fresh = Case.objects.get(pk=case.pk)
    assert (fresh.state, fresh.version, fresh.events.count()) == before


def test_a_refusal_names_the_state_and_the_transition_in_words(case_in, cast):
    case = case_in(State.FALLBACK)
    with pytest.raises(TransitionNotAllowed) as refused:
        workflow.case_verify(case=case, actor=cast.caseworker)
    assert str(refused.value) == "A case in the state “fallback pool” cannot be given “verify”."


@pytest.mark.parametrize("name", MATRIX)
@pytest.mark.parametrize("who", ALL_ROLES)
def test_each_transition_is_allowed_exactly_to_its_roles(name, who, case_in, cast, world):
    sources, allowed = MATRIX[name]
    case = case_in(sorted(sources)[0])
    before_state, before_events = case.state, case.events.count()
    user = getattr(cast, who)

    if who in allowed:
        fire(name, case, user, world)
        event = case.events.order_by("-id").first()
        assert case.events.count() == before_events + 1
        assert (event.action, event.from_state, event.to_state) == (name, before_state, case.state)
        assert event.actor == user
        assert Case.objects.get(pk=case.pk).state == case.state != before_state
    else:
        with pytest.raises(NotPermitted):
            fire(name, case, user, world)
        fresh = Case.objects.get(pk=case.pk)
        assert (fresh.state, fresh.events.count()) == (before_state, before_events)


def test_the_available_transitions_are_those_the_user_may_fire_now(case_in, cast):
    case = case_in(State.ASSIGNED)

    assert available_transitions(case, cast.liaison) == ["accept", "return"]
    assert available_transitions(case, cast.other_liaison) == []
    assert available_transitions(case, cast.supervisor) == ["suspend", "cancel"]
    assert available_transitions(case, cast.caseworker) == []


def test_the_state_cannot_be_assigned_directly(case_in):
    case = case_in(State.ASSIGNED)

    with pytest.raises(AttributeError):
        case.state = State.CLOSED


def test_the_whole_slice_leaves_one_audit_row_per_step(report, cast, world):
    case = report(category=world.lamp)
    workflow.case_dispatch(case=case, actor=cast.dispatcher, lead=world.housing, comment="住建牵头")
    housing_liaison = type(cast.liaison).objects.create_user(
        "housing", role="liaison", department=world.housing, is_staff=True
    )
    workflow.case_accept(case=case, actor=housing_liaison)
    workflow.case_resolve(case=case, actor=housing_liaison, note="已更换灯泡")
    workflow.case_verify(case=case, actor=cast.caseworker, satisfaction=5)

    trail = list(case.events.values_list("action", "from_state", "to_state", "comment"))
    assert trail == [
        ("report", "", "reported", ""),
        ("route", "reported", "fallback", ""),
        ("dispatch", "fallback", "assigned", "住建牵头"),
        ("accept", "assigned", "in_progress", ""),
        ("resolve", "in_progress", "resolved", "已更换灯泡"),
        ("verify", "resolved", "closed", ""),
    ]
    case.refresh_from_db()
    assert case.state == State.CLOSED
    assert case.satisfaction == 5
    assert case.closed_at is not None


@pytest.mark.parametrize(
    ("name", "state", "kwargs"),
    [
        ("return", State.ASSIGNED, {"reason": "  "}),
        ("resolve", State.IN_PROGRESS, {"note": ""}),
        ("reopen", State.RESOLVED, {"reason": ""}),
        ("suspend", State.ASSIGNED, {"reason": ""}),
        ("cancel", State.FALLBACK, {"reason": ""}),
    ],
)
def test_a_transition_that_needs_a_reason_refuses_an_empty_one(name, state, kwargs, case_in, cast):
    case = case_in(state)
    actor = {
        "return": cast.liaison,
        "resolve": cast.liaison,
        "reopen": cast.caseworker,
        "suspend": cast.supervisor,
        "cancel": cast.dispatcher,
    }[name]
    service = {
        "return": workflow.case_return,
        "resolve": workflow.case_resolve,
        "reopen": workflow.case_reopen,
        "suspend": workflow.case_suspend,
        "cancel": workflow.case_cancel,
    }[name]

    with pytest.raises(WorkflowError):
        service(case=case, actor=actor, **kwargs)

    assert Case.objects.get(pk=case.pk).state == state


def test_a_case_returned_twice_waits_for_a_supervisor_whose_decision_is_final(case_in, cast, world):
    case = case_in(State.ASSIGNED)
    workflow.case_return(case=case, actor=cast.liaison, reason="不归我们管")
    workflow.case_dispatch(case=case, actor=cast.dispatcher, lead=world.urban)
    workflow.case_return(case=case, actor=cast.liaison, reason="还是不归我们管")

    assert case.needs_arbitration
    assert "dispatch" not in available_transitions(case, cast.dispatcher)
    with pytest.raises(NotPermitted):
        workflow.case_dispatch(case=case, actor=cast.dispatcher, lead=world.urban)

    workflow.case_dispatch(case=case, actor=cast.supervisor, lead=world.urban)

    assert case.lead_is_final
    assert "return" not in available_transitions(case, cast.liaison)
    assert case.events.filter(action="dispatch").last().data["arbitrated"] is True


def test_resume_returns_the_case_to_the_state_it_was_suspended_from(case_in, cast):
    case = case_in(State.IN_PROGRESS)
    workflow.case_suspend(case=case, actor=cast.supervisor, reason="挂账")
    assert case.due_at is None

    workflow.case_resume(case=case, actor=cast.district_supervisor)

    assert case.state == State.IN_PROGRESS
    assert case.due_at is not None


def test_cancelling_as_a_duplicate_links_the_original(case_in, cast):
    original = case_in(State.ASSIGNED)
    duplicate = case_in(State.ASSIGNED)

    workflow.case_cancel(
        case=duplicate, actor=cast.dispatcher, reason="重复", duplicate_of=original
    )

    duplicate.refresh_from_db()
    assert duplicate.state == State.CANCELLED
    assert duplicate.duplicate_of == original


def test_two_cases_cannot_be_cancelled_as_each_others_duplicate(case_in, cast):
    first = case_in(State.ASSIGNED)
    second = case_in(State.ASSIGNED)
    workflow.case_cancel(case=first, actor=cast.dispatcher, reason="重复", duplicate_of=second)

    with pytest.raises(WorkflowError, match=f"{first.number} is cancelled itself"):
        workflow.case_cancel(case=second, actor=cast.dispatcher, reason="重复", duplicate_of=first)

    second.refresh_from_db()
    assert second.state == State.ASSIGNED


def test_acting_on_a_stale_version_is_refused_with_a_reload_message(case_in, cast):
    case = case_in(State.ASSIGNED)
    seen_version = case.version
    workflow.case_return(case=Case.objects.get(pk=case.pk), actor=cast.liaison, reason="不归我们管")
    workflow.case_dispatch(
        case=Case.objects.get(pk=case.pk), actor=cast.dispatcher, lead=world_urban(cast)
    )

    # The page the liaison opened earlier still said "assigned to you": the state matches
    # again, but the case moved on in between.
    fresh = Case.objects.get(pk=case.pk)
    assert fresh.state == State.ASSIGNED
    with pytest.raises(StaleCase, match="changed"):
        workflow.case_accept(case=fresh, actor=cast.liaison, expected_version=seen_version)

    assert Case.objects.get(pk=case.pk).state == State.ASSIGNED


def test_saving_an_outdated_copy_is_refused_even_when_the_state_matches(case_in, cast):
    case = case_in(State.ASSIGNED)
    stale_copy = Case.objects.get(pk=case.pk)
    workflow.case_return(case=case, actor=cast.liaison, reason="不归我们管")
    workflow.case_dispatch(case=case, actor=cast.dispatcher, lead=world_urban(cast))

    with pytest.raises(StaleCase):
        workflow.case_accept(case=stale_copy, actor=cast.liaison)

    assert CaseEvent.objects.filter(case=case, action="accept").count() == 0


def world_urban(cast):
    return cast.liaison.department


def test_a_transition_does_not_write_back_an_escalation_level_read_before_the_sweep(case_in, cast):
    case = case_in(State.IN_PROGRESS)
    # The sweep raises the derived level without moving `version`.
    Case.objects.filter(pk=case.pk).update(escalation_level=2)

    workflow.case_suspend(case=case, actor=cast.supervisor, reason="挂账")

    assert Case.objects.get(pk=case.pk).escalation_level == 2


def test_a_fresh_clock_starts_its_escalation_ladder_again(case_in, cast):
    case = case_in(State.IN_PROGRESS)
    Case.objects.filter(pk=case.pk).update(escalation_level=2)
    case.refresh_from_db()

    workflow.case_return(case=case, actor=cast.liaison, reason="不归我们")

    assert Case.objects.get(pk=case.pk).escalation_level == 0
