"""A dispatcher corrects the category or cell of a case not yet accepted; it routes again.

Only SPEC §2 transitions move the case: a fallback case that now has one lead is
dispatched to it; an assigned case whose lead changes keeps its state and gets the new lead
with a fresh accept clock; an assigned case that now falls back is returned to the pool by
the system.
"""

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from cases import permissions as can
from cases.models import Case, CaseAssist, CaseEvent, DeadlineKind, State
from cases.services import deadlines
from cases.services.transitions import (
    NotPermitted,
    StaleCase,
    TransitionNotAllowed,
    _fire,
    extension_requests_lapse,
    save_checked,
)
from departments.models import Category, GridCell, User
from departments.routing import get_index

CORRECTABLE_STATES = (State.FALLBACK, State.ASSIGNED)


def may_correct(case: Case, user: User) -> bool:
    """Dispatchers of the case's township and its supervisors, before a department accepts;
    only its supervisors once it waits for arbitration (a correction may dispatch it) or a
    supervisor has named its lead by arbitration (a correction may give it another)."""
    if case.state not in CORRECTABLE_STATES:
        return False
    if can.is_supervisor_of(case, user):
        return True
    decided_by_supervisors = case.needs_arbitration or case.lead_is_final
    return not decided_by_supervisors and can.is_township_staff(case, user, User.Role.DISPATCHER)


def return_by_new_lead(
    case: Case, *, category: Category | None, cell: GridCell | None
) -> CaseEvent | None:
    """The last return of `case` by the department a correction to `category` and `cell`
    would give it to, when that department returned it itself (not a correction's return
    to the pool): routed so, the case goes straight back to a department that refused it,
    and the dispatcher is told before (`case_correct` does not refuse it). None otherwise,
    or when the case stays with its lead or nothing changes (`case_correct` refuses that)."""
    if (category, cell) == (case.category, case.cell):
        return None
    decision = get_index().route(
        category_id=category.pk if category else None,
        cell_id=cell.pk if cell else None,
        on=timezone.localdate(),
    )
    lead = decision.lead_department_id
    if decision.is_fallback or lead is None or lead == case.lead_department_id:
        return None
    return (
        CaseEvent.objects.department_returns()
        .filter(case=case, data__returned_by=lead)
        .select_related("actor")
        .order_by("-at", "-id")
        .first()
    )


@transaction.atomic
def case_correct(
    *,
    case: Case,
    actor: User,
    category: Category | None,
    cell: GridCell | None,
    expected_version: int,
) -> Case:
    """Set the case's category and cell and route it again.

    Guarantees: one "correct" audit row (from_state == to_state, with the old and new values
    and the new decision), followed by the transition it caused, if any; the candidates
    match the new decision; nothing changes when the user may not correct, the case is
    stale, or the cell is in another township.
    """
    if expected_version != case.version:
        raise StaleCase(_("This case changed since you opened it. Reload it and try again."))
    if case.state not in CORRECTABLE_STATES:
        raise TransitionNotAllowed(
            _("Only a case that no department has accepted yet can be corrected.")
        )
    if not may_correct(case, actor):
        if case.needs_arbitration:
            raise NotPermitted(
                _("Returned twice, this case waits for a supervisor: only they may correct it.")
            )
        if case.lead_is_final:
            raise NotPermitted(
                _(
                    "A supervisor named this case's lead by arbitration: only a supervisor"
                    " may correct it."
                )
            )
        raise NotPermitted(_("You may not correct this case."))
    if cell is not None and cell.township_id != case.township_id:
        raise TransitionNotAllowed(_("The grid cell must be in the case's township."))
    if (category, cell) == (case.category, case.cell):
        # Routed again unchanged, a returned case would go straight back to the department
        # that returned it: choosing a lead is a dispatch.
        raise TransitionNotAllowed(
            _(
                "Nothing to correct: the category and the grid cell are as they were. "
                "To choose who leads, dispatch the case."
            )
        )

    now = timezone.now()
    decision = get_index().route(
        category_id=category.pk if category else None,
        cell_id=cell.pk if cell else None,
        on=timezone.localdate(now),
    )
    old = {"category": case.category_id, "cell": case.cell_id, "lead": case.lead_department_id}
    case.category, case.cell = category, cell
    state = case.state
    CaseEvent.objects.create(
        case=case,
        action="correct",
        from_state=state,
        to_state=state,
        actor=actor,
        at=now,
        data={
            "old": old,
            "new": {"category": case.category_id, "cell": case.cell_id},
            "lead": decision.lead_department_id,
            "fallback_reason": decision.fallback_reason,
            "candidates": list(decision.candidate_department_ids),
        },
    )
    # The correction now names the owner (the router's lead, or the pool): no dispatcher's
    # choice any more, whichever branch below saves the case.
    case.lead_chosen_in_pool = False

    if state == State.FALLBACK and not decision.is_fallback:
        lead = decision.lead_department_id
        _fire(
            case,
            "dispatch",
            actor=actor,
            now=now,
            comment=gettext_noop("Routed again after a correction."),  # SYSTEM_COMMENTS
            lead=_department(lead),
            by_router=True,
            data={
                "lead": lead,
                "assisting": list(decision.assisting_department_ids),
                "correction": True,
            },
        )
        case.candidate_departments.clear()
        _add_assists(case, decision.assisting_department_ids, now)
    elif state == State.FALLBACK:
        case.fallback_reason = decision.fallback_reason
        save_checked(case)
        case.candidate_departments.set(decision.candidate_department_ids)
    elif decision.is_fallback:
        return_count = case.return_count
        _fire(
            case,
            "return",
            actor=None,
            now=now,
            comment=gettext_noop(  # SYSTEM_COMMENTS
                "Returned to the pool after a correction: no single lead department."
            ),
            data={"returned_by": old["lead"], "correction": True},
        )
        # Not a department's dispute: it must not count towards arbitration.
        case.return_count = return_count
        case.fallback_reason = decision.fallback_reason
        save_checked(case)
        case.candidate_departments.set(decision.candidate_department_ids)
    elif decision.lead_department_id != case.lead_department_id:
        case.lead_department_id = decision.lead_department_id
        # The arbitration named the old lead; the new one was given the case by routing
        # and may return it like any routed lead.
        case.lead_is_final = False
        deadlines.start_clock(case, DeadlineKind.ACCEPT, now=now)
        save_checked(case, fresh_clock=True)
        extension_requests_lapse(case, now=now)
        _add_assists(case, decision.assisting_department_ids, now)
    else:
        save_checked(case)
        # The same lead, but the new category or cell may have assist rules of its own.
        _add_assists(case, decision.assisting_department_ids, now)
    return case


def _department(pk):
    from departments.models import Department

    return Department.objects.get(pk=pk)


def _add_assists(case: Case, department_ids, now) -> None:
    # The lead leads: a department summoned to assist before the correction named it the
    # lead was still asked to report for duty on its own case (as `case_dispatch` avoids).
    case.assists.filter(department_id=case.lead_department_id).delete()
    existing = set(case.assists.values_list("department_id", flat=True))
    CaseAssist.objects.bulk_create(
        CaseAssist(case=case, department_id=dept_id, created_at=now)
        for dept_id in department_ids
        if dept_id not in existing and dept_id != case.lead_department_id
    )
