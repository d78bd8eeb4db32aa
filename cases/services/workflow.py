"""Services that move a case through its state machine (SPEC §2), one per transition a
user fires: dispatch, accept, return, resolve, verify, reopen, suspend, resume, cancel.

Every service fires its transition (`transitions._fire`: the checks, the deadline clock,
the save with its version check, the audit row) and does what else the step needs, all in
one transaction: either all of it happens or none of it does.
"""

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from cases.models import Case, CaseAssist, State
from cases.selectors.supervision import given_at_of_return
from cases.services import arbitration_mail, deadlines
from cases.services.transitions import WorkflowError, _fire
from departments.models import Department, User
from departments.routing import route


def _require(text: str, what: str) -> str:
    text = (text or "").strip()
    if not text:
        raise WorkflowError(_("A %(what)s is required.") % {"what": what})
    return text


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
    within the dispatch limit; without, none is (an earlier summons ends here, not at the return).
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
    report_due_at, revision = (
        deadlines.whistle_report_due(now=now) if whistle and assisting else (None, 0)
    )
    existing = set(case.assists.values_list("department_id", flat=True))
    CaseAssist.objects.bulk_create(
        CaseAssist(
            case=case,
            department=dept,
            summoned=whistle,
            report_due_at=report_due_at,
            calendar_revision=revision,
            created_at=now,
        )
        for dept in assisting
        if dept.pk not in existing
    )
    # Those already on the case are summoned anew, by this dispatch's deadline, or no
    # longer: the audit trail keeps their report for an earlier summons.
    case.assists.filter(department__in=existing).update(
        summoned=whistle,
        report_due_at=report_due_at,
        calendar_revision=revision,
        reported_at=None,
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
