"""Services that move a case through its state machine (SPEC §2).

Every service fires one django-fsm transition, adjusts the deadline clock, saves the case
with its version check and writes the audit row, all in one transaction: either all of it
happens or none of it does.
"""

from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_fsm import can_proceed, has_transition_perm

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
from cases.services import arbitration_mail, deadlines
from cases.supervision import given_at_of_return
from departments.calendar import WorkingCalendar
from departments.models import Department, User
from departments.routing import Decision, route

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

# Which clock runs in each state; entering a state starts it fresh unless noted otherwise.
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
    try:
        case.save(update_fields=_fields_to_save(keep_escalation_level=fresh_clock))
    except CaseChanged as error:
        raise StaleCase(
            _("This case changed while you were acting on it. Reload it and try again.")
        ) from error
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
    # Worded as the page's button: "arbitrate" for the dispatch of a case returned twice.
    label = transition_label(name, case)
    if expected_version is not None and expected_version != case.version:
        raise StaleCase(_("This case changed since you opened it. Reload it and try again."))
    method = transition_method(case, name)
    if not can_proceed(method):
        raise TransitionNotAllowed(
            _("A case in the state “%(state)s” cannot be given “%(action)s”.")
            % {"state": case.get_state_display(), "action": label}
        )
    if actor is not None and not has_transition_perm(method, actor):
        raise NotPermitted(_("You may not %(action)s this case.") % {"action": label})

    from_state = case.state
    method(**transition_kwargs)
    to_state = case.state
    if to_state == State.SUSPENDED:
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


def _fields_to_save(*, keep_escalation_level: bool) -> list[str]:
    return [
        field.name
        for field in Case._meta.concrete_fields
        if not field.primary_key and (keep_escalation_level or field.name != "escalation_level")
    ]


def _require(text: str, what: str) -> str:
    text = (text or "").strip()
    if not text:
        raise WorkflowError(_("A %(what)s is required.") % {"what": what})
    return text


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


@transaction.atomic
def case_dispatch(
    *,
    case: Case,
    actor: User,
    lead: Department,
    assisting: Iterable[Department] | None = None,
    whistle: bool = False,
    comment: str = "",
    expected_version: int | None = None,
) -> Case:
    """Dispatch a fallback case to a lead department, with optional assisting departments.

    `assisting` names the case's assisting departments from now on: those on the case
    before (an earlier routing or dispatch of a returned case) and not named leave it, so
    the case and its timeline agree. None keeps them (a caller that names the lead only).
    With `whistle`, the assisting departments are summoned (吹哨) and must report for duty
    within the dispatch limit; without, none is (an earlier summons ended with the return).
    After two returns only a supervisor may dispatch, and that decision is final.
    """
    replace = assisting is not None
    if replace:
        assisting = [dept for dept in assisting if dept.pk != lead.pk]
        assisting_ids = [dept.pk for dept in assisting]
    else:
        assisting_ids = list(
            case.assists.exclude(department=lead).values_list("department_id", flat=True)
        )
    now = timezone.now()
    arbitrated = case.needs_arbitration
    _fire(
        case,
        "dispatch",
        actor=actor,
        comment=comment,
        expected_version=expected_version,
        now=now,
        lead=lead,
        arbitrated=arbitrated,
        data={
            "lead": lead.pk,
            "assisting": assisting_ids,
            "whistle": whistle,
            "arbitrated": arbitrated,
        },
    )
    case.candidate_departments.clear()
    # The lead leads: an earlier dispatch may have summoned it to assist (an arbitration
    # names the lead from among the departments already on the case).
    case.assists.filter(department=lead).delete()
    if not replace:
        return case
    case.assists.exclude(department__in=assisting_ids).delete()
    report_due_at = deadlines.whistle_report_due(now=now) if whistle and assisting else None
    existing = set(case.assists.values_list("department_id", flat=True))
    CaseAssist.objects.bulk_create(
        CaseAssist(
            case=case,
            department=dept,
            summoned=whistle,
            report_due_at=report_due_at,
            created_at=now,
        )
        for dept in assisting
        if dept.pk not in existing
    )
    # Those already on the case are summoned anew, by this dispatch's deadline, or no
    # longer: the audit trail keeps their report for an earlier summons.
    case.assists.filter(department__in=existing).update(
        summoned=whistle, report_due_at=report_due_at, reported_at=None
    )
    return case


@transaction.atomic
def case_accept(*, case: Case, actor: User, expected_version: int | None = None) -> Case:
    """The lead department's liaison accepts the case; the resolve clock starts."""
    _fire(
        case,
        "accept",
        actor=actor,
        expected_version=expected_version,
        data=_acting_department(actor),
    )
    return case


def _acting_department(actor: User) -> dict:
    """The department a liaison acts for, kept on the audit row: supervision counts the
    step for it even after the liaison moved to another department."""
    return {"department": actor.department_id}


@transaction.atomic
def case_return(
    *, case: Case, actor: User, reason: str, expected_version: int | None = None
) -> Case:
    """The lead department disputes the case: back to the township's pool, with a reason.
    Returned a second time, the case waits for arbitration: its arbiters are emailed
    (`arbitration_mail`), through the outbox, in this transaction."""
    reason = _require(reason, _("reason"))
    previous_lead = case.lead_department_id
    now = timezone.now()
    # When the case was given to the department: supervision counts the return in the
    # return rate of a period holding both days.
    given_at = given_at_of_return(case_id=case.pk, department_id=previous_lead, at=now)
    _fire(
        case,
        "return",
        actor=actor,
        comment=reason,
        expected_version=expected_version,
        now=now,
        data={"returned_by": previous_lead, "given_at": given_at},
    )
    # An overlap's departments, as the router names them today, are the pool's candidates
    # again (dispatch cleared them); the dispatch form leaves out whoever returned it.
    decision = route(category_id=case.category_id, cell_id=case.cell_id, on=timezone.localdate())
    case.candidate_departments.set(decision.candidate_department_ids)
    if case.needs_arbitration:
        arbitration_mail.arbitration_notify(case=case, now=now)
    return case


@transaction.atomic
def case_resolve(
    *, case: Case, actor: User, note: str, expected_version: int | None = None
) -> Case:
    """The lead department reports the problem fixed; the caseworker checks next."""
    _fire(
        case,
        "resolve",
        actor=actor,
        comment=_require(note, _("note")),
        expected_version=expected_version,
        data=_acting_department(actor),
    )
    return case


@transaction.atomic
def case_verify(
    *,
    case: Case,
    actor: User,
    satisfaction: int | None = None,
    comment: str = "",
    expected_version: int | None = None,
) -> Case:
    """The caseworker confirms the fix and closes the case, optionally rating it 1–5."""
    if satisfaction is not None and not 1 <= satisfaction <= 5:
        raise WorkflowError(_("The rating must be between 1 and 5."))
    _fire(
        case,
        "verify",
        actor=actor,
        comment=comment,
        expected_version=expected_version,
        satisfaction=satisfaction,
        data={"satisfaction": satisfaction},
    )
    return case


@transaction.atomic
def case_reopen(
    *, case: Case, actor: User, reason: str, expected_version: int | None = None
) -> Case:
    """The caseworker finds the problem not fixed: back to the department, with a reason."""
    _fire(
        case,
        "reopen",
        actor=actor,
        comment=_require(reason, _("reason")),
        expected_version=expected_version,
        # Supervision counts the reopen for the department that led the case then.
        data={"department": case.lead_department_id},
    )
    return case


@transaction.atomic
def case_suspend(
    *, case: Case, actor: User, reason: str, expected_version: int | None = None
) -> Case:
    """A supervisor parks the case (挂账); its clock stops with the time it had left."""
    _fire(
        case,
        "suspend",
        actor=actor,
        comment=_require(reason, _("reason")),
        expected_version=expected_version,
    )
    return case


@transaction.atomic
def case_resume(
    *, case: Case, actor: User, comment: str = "", expected_version: int | None = None
) -> Case:
    """A supervisor takes the case back up; its clock restarts with the time it had left."""
    _fire(case, "resume", actor=actor, comment=comment, expected_version=expected_version)
    return case


@transaction.atomic
def case_cancel(
    *,
    case: Case,
    actor: User,
    reason: str,
    duplicate_of: Case | None = None,
    expected_version: int | None = None,
) -> Case:
    """Cancel a duplicate or invalid case, with a reason. Nothing is deleted."""
    reason = _require(reason, _("reason"))
    if duplicate_of is not None and duplicate_of.pk == case.pk:
        raise WorkflowError(_("A case cannot be a duplicate of itself."))
    original_state = None
    if duplicate_of is not None:
        # Two dispatchers cancelling two cases as each other's duplicate at once each saw
        # the other still open. Both rows locked, in id order so that the two wait rather
        # than deadlock, the original's state is read as it is now. FOR NO KEY UPDATE, as
        # an UPDATE locks: an audit row or escalation being inserted for them is no reason
        # to wait (nor, with the sweep's, to deadlock).
        original_state = dict(
            Case.objects.select_for_update(no_key=True)
            .filter(pk__in=[case.pk, duplicate_of.pk])
            .order_by("pk")
            .values_list("pk", "state")
        )[duplicate_of.pk]
    if original_state == State.CANCELLED:
        # Two cases cancelled as each other's duplicate would leave the problem to nobody.
        raise WorkflowError(
            _("%(number)s is cancelled itself: name the case that goes on as the original.")
            % {"number": duplicate_of.number}
        )
    _fire(
        case,
        "cancel",
        actor=actor,
        comment=reason,
        expected_version=expected_version,
        duplicate_of=duplicate_of,
        data={"duplicate_of": duplicate_of.number if duplicate_of else None},
    )
    return case
