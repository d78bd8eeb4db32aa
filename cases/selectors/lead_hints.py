"""What the township's dispatchers chose before (the data flywheel's evidence, read by the
rule suggestions, cases/services/flywheel.py): the closed cases a dispatcher sent out of
the fallback pool, and the hint a dispatch form shows from them, the department that led
most such cases of the category in the township."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count
from django.utils import timezone

from cases.models import Case, State
from departments.models import Department

# A department that led at least this share of the cases is suggested (a rule) or hinted.
MIN_SHARE = 0.6


def dispatched_closed_cases():
    """Closed cases that a dispatcher (or an arbitrating supervisor) sent out of the pool.

    Their lead must be that choice: the last event that named the owner is a dispatch, and
    not the one a correction fires, where the router named the lead from the list as it
    stands. Counted, those made the list suggest itself, or outvote the dispatchers with
    what an older list said. `Case.lead_chosen_in_pool` stores that verdict, kept by every
    transition that names the owner: reading the audit trail for it cost a look-up per
    closed case (3-4 s at a million cases)."""
    return Case.objects.filter(
        lead_chosen_in_pool=True,
        state=State.CLOSED,
        category__isnull=False,
        lead_department__isnull=False,
    )


# A hint for one dispatch asks less of the evidence than a rule for every case: two closed
# cases that agree (and the same share), shown with their count for the dispatcher to weigh.
HINT_MIN_CASES = 2
# Only the last year's decisions: responsibilities change, and a case page must not count a
# district's whole history (the case_closed_chosen index serves it, from the index alone).
HINT_WINDOW = timedelta(days=365)


@dataclass(frozen=True)
class LeadHint:
    """The department the township's dispatchers chose for most closed cases like one."""

    department: Department
    count: int  # closed cases of the category in the township it led after a dispatch
    total: int  # all such cases


def lead_hint(
    *, category_id: int | None, township_id: int, exclude: frozenset[int] = frozenset()
) -> LeadHint | None:
    """The department that led at least HINT_MIN_CASES and MIN_SHARE of the township's
    closed, dispatched cases of the category in the last HINT_WINDOW, or None (no
    category, too little evidence, or the leader is in `exclude`: it returned the case).
    One query, two with a hint."""
    if category_id is None:
        return None
    rows = list(
        dispatched_closed_cases()
        .filter(
            category_id=category_id,
            township_id=township_id,
            closed_at__gte=timezone.now() - HINT_WINDOW,
        )
        .values("lead_department_id")
        .annotate(n=Count("pk"))
        .order_by("-n", "lead_department_id")
    )
    if not rows:
        return None
    top, total = rows[0], sum(row["n"] for row in rows)
    if (
        top["n"] < HINT_MIN_CASES
        or top["n"] / total < MIN_SHARE
        or top["lead_department_id"] in exclude
    ):
        return None
    department = Department.objects.get(pk=top["lead_department_id"])
    return LeadHint(department=department, count=top["n"], total=total)
