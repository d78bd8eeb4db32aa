"""Firing a transition of the case's state machine (SPEC §2), for the services that move a
case (`workflow`, `corrections`, `intake`'s routing): the transition's checks (the case's
version, its state, the actor's permission), the deadline clock it starts, pauses or
stops, the save with the version check, and the audit row. Also which transitions a user
may fire now (for pages and the admin), and the errors a refused transition raises.
"""

from datetime import datetime

from django.utils import timezone
from django.utils.translation import gettext as _
from django_fsm import can_proceed, has_transition_perm

from cases import permissions as can
from cases.labels import transition_label
from cases.models import (
    CLOCK_STATES,
    TERMINAL_STATES,
    Case,
    CaseAssist,
    CaseChanged,
    CaseEvent,
    DeadlineKind,
    ExtensionRequest,
    State,
)
from cases.services import calendar_changes, deadlines
from departments.calendar import WorkingCalendar
from departments.models import User
from departments.routing import Decision

# Public transition names (SPEC §2) → model methods. `return` is a Python keyword.
TRANSITION_METHODS = {
    "route": "route",
    "dispatch": "dispatch",
    "accept": "accept",
    "return": "return_to_pool",
    "resolve": "resolve",
    "verify": "verify",
    "reopen": "reopen",
    "suspend": "suspend",
    "resume": "resume",
    "cancel": "cancel",
}
USER_TRANSITIONS = [name for name in TRANSITION_METHODS if name != "route"]

# Which clock runs in each state; entering a state starts it fresh, but for `resume`, which
# restarts the clock `suspend` paused (`_transition`).
CLOCK_FOR_STATE = {
    State.FALLBACK: DeadlineKind.DISPATCH,
    State.ASSIGNED: DeadlineKind.ACCEPT,
    State.IN_PROGRESS: DeadlineKind.RESOLVE,
}


class WorkflowError(Exception):
    """A transition that was refused; its message is meant for the user."""


class TransitionNotAllowed(WorkflowError):
    pass


class NotPermitted(WorkflowError):
    pass


class StaleCase(WorkflowError):
    """The case changed since the user loaded it."""


def transition_method(case: Case, name: str):
    return getattr(case, TRANSITION_METHODS[name])


def may_fire(case: Case, user: User, name: str) -> bool:
    """Whether this user may fire the transition `name` on this case now."""
    return has_transition_perm(transition_method(case, name), user)


def refusal(case: Case, name: str, user: User | None) -> WorkflowError | None:
    """Why the transition `name` cannot be fired on this case now, by this user (None: the
    system): its state first, then who asks; None when it can. Pages ask it of a form that
    is incomplete too: a step refused anyway is said as such, not as a field to fill in."""
    # Worded as the page's button: "arbitrate" for the dispatch of a case returned twice.
    label = transition_label(name, case)
    method = transition_method(case, name)
    if not can_proceed(method):
        return TransitionNotAllowed(
            _("A case in the state “%(state)s” cannot be given “%(action)s”.")
            % {"state": case.get_state_display(), "action": label}
        )
    if user is None or has_transition_perm(method, user):
        return None
    if name == "return" and case.lead_is_final and can.act_for_lead(case, user):
        # The one step the lead's own case refuses it (a page opened before the
        # arbitration still offers it): say why.
        return NotPermitted(
            _(
                "Returned twice, this case was arbitrated: the decision is final, your"
                " department cannot return it."
            )
        )
    return NotPermitted(_("You may not %(action)s this case.") % {"action": label})


def available_transitions(case: Case, user: User) -> list[str]:
    """The transitions this user may fire on this case now, in SPEC order."""
    return [name for name in USER_TRANSITIONS if may_fire(case, user, name)]


def _fire(
    case: Case,
    name: str,
    *,
    actor: User | None,
    comment: str = "",
    expected_version: int | None = None,
    now: datetime | None = None,
    data: dict | None = None,
    **transition_kwargs,
) -> CaseEvent:
    """Fire transition `name`, move the clock, save, and write the audit row.

    Callers hold a transaction. `actor=None` is the system (routing), which needs no
    permission; any other actor must pass the transition's `permission=` check.
    """
    now = now or timezone.now()
    deadline_seq_before = case.deadline_seq
    event = _transition(
        case,
        name,
        actor=actor,
        comment=comment,
        expected_version=expected_version,
        now=now,
        data=data,
        **transition_kwargs,
    )
    # The sweep raises `escalation_level` without touching `version`; only a fresh clock
    # resets it, so otherwise leave the column to the sweep rather than write back our copy.
    fresh_clock = case.deadline_seq != deadline_seq_before
    save_checked(case, fresh_clock=fresh_clock)
    event.save()
    if fresh_clock or case.state not in CLOCK_STATES or case.due_at is None:
        extension_requests_lapse(case, now=now)
    return event


def extension_requests_lapse(case: Case, *, now: datetime) -> None:
    """The deadline a pending extension request asks about has ended (the case was
    accepted, resolved, returned, suspended, corrected): the request lapses now, with its
    audit row, and leaves the deciders' queue. One query when there is none."""
    pending = list(
        case.extension_requests.filter(status=ExtensionRequest.Status.PENDING).values_list(
            "pk", "department_id"
        )
    )
    if not pending:
        return
    ExtensionRequest.objects.filter(pk__in=[pk for pk, _department in pending]).update(
        status=ExtensionRequest.Status.LAPSED, decided_at=now
    )
    CaseEvent.objects.bulk_create(
        CaseEvent(
            case=case,
            action="extension_lapse",
            from_state=case.state,
            to_state=case.state,
            actor_label="system",
            data={"extension": pk, "department": department},
            at=now,
        )
        for pk, department in pending
    )


def _transition(
    case: Case,
    name: str,
    *,
    actor: User | None,
    now: datetime,
    comment: str = "",
    expected_version: int | None = None,
    data: dict | None = None,
    calendar: WorkingCalendar | None = None,
    **transition_kwargs,
) -> CaseEvent:
    """Check and fire transition `name` on the case in memory and move its clock; return
    its audit row, unsaved. Saving both is the caller's job (`_fire`, or intake, which
    inserts a new case once, already routed)."""
    if expected_version is not None and expected_version != case.version:
        raise StaleCase(_("This case changed since you opened it. Reload it and try again."))
    if (refused := refusal(case, name, actor)) is not None:
        raise refused

    from_state = case.state
    transition_method(case, name)(**transition_kwargs)
    to_state = case.state
    if to_state == State.SUSPENDED:
        calendar_changes.catch_up(case)
        deadlines.pause_clock(case, now=now)
    elif name == "resume":
        deadlines.resume_clock(case, now=now)
    elif to_state in CLOCK_FOR_STATE:
        deadlines.start_clock(case, CLOCK_FOR_STATE[to_state], now=now, calendar=calendar)
    else:
        deadlines.stop_clock(case)
    if to_state in TERMINAL_STATES:
        case.closed_at = now
    return CaseEvent(
        case=case,
        action=name,
        from_state=from_state,
        to_state=to_state,
        actor=actor,
        actor_label="" if actor else "system",
        comment=comment,
        data=data or {},
        at=now,
    )


def save_checked(case: Case, *, fresh_clock: bool = False) -> None:
    """Save with the version check (a stale copy is `StaleCase`); the sweep's escalation
    level is written only with a fresh clock (which resets it), or a sweep that ran
    meanwhile would be undone."""
    try:
        case.save(update_fields=_fields_to_save(keep_escalation_level=fresh_clock))
    except CaseChanged as error:
        raise StaleCase(
            _("This case changed while you were acting on it. Reload it and try again.")
        ) from error


def _fields_to_save(*, keep_escalation_level: bool) -> list[str]:
    return [
        field.name
        for field in Case._meta.concrete_fields
        if not field.primary_key and (keep_escalation_level or field.name != "escalation_level")
    ]


def route_unsaved(
    case: Case, decision: Decision, *, now: datetime, calendar: WorkingCalendar | None = None
) -> CaseEvent:
    """Fire `route` with the router's decision on a new case before its first save, so that
    it is inserted once, already routed; returns the audit row, unsaved. The caller inserts
    the case, then the row, then calls `attach_routed_departments`."""
    event = _transition(
        case,
        "route",
        actor=None,
        now=now,
        calendar=calendar,
        lead_department_id=decision.lead_department_id,
        fallback_reason=decision.fallback_reason,
        data={
            "lead": decision.lead_department_id,
            "assisting": list(decision.assisting_department_ids),
            "fallback_reason": decision.fallback_reason,
            "candidates": list(decision.candidate_department_ids),
        },
    )
    return event


def attach_routed_departments(case: Case, decision: Decision, *, now: datetime) -> None:
    """The assisting departments of a routed case, or the candidates of an overlap: one
    INSERT each, and none when the decision names none (the case was just routed, so it
    has neither yet)."""
    if decision.assisting_department_ids:
        CaseAssist.objects.bulk_create(
            CaseAssist(case=case, department_id=dept_id, created_at=now)
            for dept_id in decision.assisting_department_ids
        )
    if decision.candidate_department_ids:
        Candidate = Case.candidate_departments.through  # noqa: N806 - a model class
        Candidate.objects.bulk_create(
            Candidate(case_id=case.pk, department_id=dept_id)
            for dept_id in decision.candidate_department_ids
        )
