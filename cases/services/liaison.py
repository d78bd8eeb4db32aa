"""What a department liaison does besides the plain transitions: report for duty when a
whistle summons their department (报到), and resolve with photos of the fix."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from cases.models import (
    AWAITING_REPORT,
    TERMINAL_STATES,
    Case,
    CaseAssist,
    CaseEvent,
    CasePhoto,
)
from cases.services import photos as photo_service
from cases.services import workflow
from cases.services.transitions import NotPermitted, WorkflowError
from departments.models import User


def pending_summons(case: Case, user: User) -> CaseAssist | None:
    """The whistle summons of the user's department on this case still waiting for its
    report for duty, or None."""
    if not user.has_role(User.Role.LIAISON) or case.state in TERMINAL_STATES:
        return None
    return (
        case.assists.filter(AWAITING_REPORT, department_id=user.department_id)
        .select_related("department")
        .first()
    )


@transaction.atomic
def assist_report_for_duty(
    *, case: Case, actor: User, comment: str = "", now: datetime | None = None
) -> CaseAssist:
    """Record that the actor's department, summoned by a whistle, reported for duty.

    Once per summons: the rows are locked and a second report is refused. Writes an audit
    row with from_state == to_state (it is not a transition).
    """
    now = now or timezone.now()
    if not actor.has_role(User.Role.LIAISON):
        raise NotPermitted(_("Only a liaison of a summoned department may report for duty."))
    # The case locked first (a transition's order: the case, then its assists), so that a
    # cancel or a new dispatch at the same moment is waited for and its outcome read here;
    # unlocked, a report for duty went through on a case cancelled as it was written.
    case = Case.objects.select_for_update(no_key=True).get(pk=case.pk)
    assist = (
        CaseAssist.objects.select_for_update()
        .filter(case_id=case.pk, department_id=actor.department_id, summoned=True)
        .first()
    )
    if assist is None:
        raise NotPermitted(_("Your department was not summoned to this case."))
    if assist.reported_at is not None:
        raise WorkflowError(_("Your department already reported for duty on this case."))
    if case.state in TERMINAL_STATES:
        raise WorkflowError(_("This case is finished; there is nothing to report for."))
    assist.reported_at = now
    assist.save(update_fields=["reported_at"])
    CaseEvent.objects.create(
        case=case,
        action="report_for_duty",
        from_state=case.state,
        to_state=case.state,
        actor=actor,
        comment=(comment or "").strip(),
        data={
            "department": actor.department_id,
            "late": bool(assist.report_due_at and now > assist.report_due_at),
        },
        at=now,
    )
    return assist


@transaction.atomic
def case_resolve_with_photos(
    *,
    case: Case,
    actor: User,
    note: str,
    photos: Sequence = (),
    expected_version: int | None = None,
) -> list[CasePhoto]:
    """Resolve the case and attach photos of the fix: both or, on a bad photo, neither.
    Returns the photos stored, each picture once (`case_add_photos`)."""
    workflow.case_resolve(case=case, actor=actor, note=note, expected_version=expected_version)
    if not photos:
        return []
    return photo_service.case_add_photos(case=case, uploaded_by=actor, uploads=photos)
