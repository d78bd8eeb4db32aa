"""Return arbitration (SPEC §2): a case returned twice waits in the pool for a supervisor,
who names the lead department and, as any dispatch does, its assisting departments; the
lead is final for the case."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from cases.models.case import AWAITING_ARBITRATION, Case
from cases.services import workflow
from cases.services.transitions import TransitionNotAllowed, WorkflowError
from departments.models import Department, User


def awaiting_arbitration(cases: QuerySet[Case]) -> QuerySet[Case]:
    """The cases of `cases` that wait for a supervisor's decision (Case.needs_arbitration)."""
    return cases.filter(AWAITING_ARBITRATION)


@transaction.atomic
def case_arbitrate(
    *,
    case: Case,
    actor: User,
    lead: Department,
    reason: str,
    assisting: Iterable[Department] | None = None,
    expected_version: int | None = None,
) -> Case:
    """Name the lead of a twice-returned case, with the reasons, and, as any dispatch,
    its assisting departments (`workflow.case_dispatch`: None keeps those on the case);
    recorded in the audit trail as an arbitrated dispatch. The lead can no longer return
    the case."""
    if not case.needs_arbitration:
        raise TransitionNotAllowed(_("This case does not wait for arbitration."))
    reason = (reason or "").strip()
    if not reason:
        raise WorkflowError(_("A reason is required."))
    return workflow.case_dispatch(
        case=case,
        actor=actor,
        lead=lead,
        assisting=assisting,
        comment=reason,
        expected_version=expected_version,
    )
