"""The audit trail read back: which audit rows changed a case or decided its owner, the
step someone is told happened since their page showed the case, and a user's own latest
steps."""

from django.db.models import Exists, OuterRef

from cases.models import Case, CaseEvent
from cases.selectors.access import cases_visible_to
from departments.models import User


def recent_steps_of(user: User, limit: int = 10) -> list[CaseEvent]:
    """The user's own latest audit rows, newest first, each with `case_visible`: whether
    its case is still in their sight (a case they returned has left it) to link it."""
    visible = cases_visible_to(user).filter(pk=OuterRef("case_id"))
    return list(
        CaseEvent.objects.filter(actor=user)
        .select_related("case")
        .annotate(case_visible=Exists(visible))
        .order_by("-at", "-id")[:limit]
    )


# Audit rows that leave the case's workflow as it was: an escalation's rung and its
# acknowledgement, a reporter's contact blanked. No step to tell someone of as what happened
# meanwhile. (A note is no audit row: it is a CaseNote.)
UNCHANGING_ACTIONS = ("escalate", "remind", "acknowledge", "anonymise")
# Written by the system after the step that caused them, at the same moment: a resolve,
# return or correction lapses a pending extension request. Named, the lapse would hide who
# did what ("extension request lapsed by system").
FOLLOW_ON_ACTIONS = ("extension_lapse",)


def latest_step(case: Case) -> CaseEvent | None:
    """The last audit row that changed `case` (a transition, a correction, a report for
    duty…): what someone whose page showed an older version is told happened meanwhile."""
    return (
        CaseEvent.objects.filter(case=case)
        .exclude(action__in=UNCHANGING_ACTIONS + FOLLOW_ON_ACTIONS)
        .select_related("actor")
        .order_by("-at", "-id")
        .first()
    )


# Events that decide who owns a case, latest last. Each sets Case.lead_chosen_in_pool (the
# data flywheel's verdict on the case), in the save that goes with it.
OWNERSHIP_ACTIONS = ("route", "dispatch", "correct", "return")
