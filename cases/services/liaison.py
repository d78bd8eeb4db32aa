"""What a department liaison does besides the plain transitions: report for duty when a
whistle summons their department (报到), and resolve with photos of the fix; and what their
lists show of a summons still to answer."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db import transaction
from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from cases import labels
from cases.models import OPEN_STATES, TERMINAL_STATES, Case, CaseAssist, CaseEvent, CasePhoto
from cases.services import photos as photo_service
from cases.services import workflow
from cases.services.workflow import NotPermitted, WorkflowError
from departments.models import User


def pending_summons(case: Case, user: User) -> CaseAssist | None:
    """The whistle summons of the user's department on this case still waiting for its
    report for duty, or None."""
    if not user.has_role(User.Role.LIAISON) or case.state in TERMINAL_STATES:
        return None
    return (
        case.assists.filter(department_id=user.department_id, summoned=True, reported_at=None)
        .select_related("department")
        .first()
    )


def with_summons_due(cases: QuerySet[Case], user: User) -> QuerySet[Case]:
    """`cases` with `summons_due_at`, for a liaison: when their department, summoned by a
    whistle to the case, must report for duty, while it has not and the case is open (None
    otherwise). Until then that is their department's deadline on the case, not the lead's
    `due_at`, and a list shows it instead. In the list's own query (a subquery per row on
    the assists' department index); other users' cases are returned as they are."""
    if not user.has_role(User.Role.LIAISON):
        return cases
    waiting = CaseAssist.objects.filter(
        case=OuterRef("pk"),
        case__state__in=OPEN_STATES,
        department_id=user.department_id,
        summoned=True,
        reported_at=None,
    )
    return cases.annotate(summons_due_at=Subquery(waiting.values("report_due_at")[:1]))


def summons_time_left(case: Case, *, calendar, now: datetime | None = None) -> str:
    """The working time left to report for duty on a case of `with_summons_due` ("Report
    for duty: 2 hours left", "Report for duty: overdue by 1 h"), for a column headed
    "working time left"; empty when the reader's department has no such summons on it."""
    due = getattr(case, "summons_due_at", None)
    if due is None:
        return ""
    now = now or timezone.now()
    if due > now:
        left = labels.working_time_words(calendar.working_seconds_between(now, due), titled=True)
    else:
        late = calendar.working_seconds_between(due, now)
        left = labels.working_time_words(-late, overdue=True, titled=True)
    return _("Report for duty: %(left)s") % {"left": left}


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
