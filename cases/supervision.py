"""Supervision of power (selectors): per department and period, how often it returns the
cases it is given, asks for and gets extensions, has its fixes reopened by the caseworker,
and how long it takes to accept. One GROUP BY over the period's audit trail counts them
all; the departments far above the others are flagged.

A department's figures, by audit row: given = `route`/`dispatch` rows naming it as lead,
and `correct` rows that re-routed an assigned case from another lead to it;
returns = `return` rows it made; accepts, resolves and reports for duty = its liaisons'
rows (for the department each row names: a liaison may have moved since); reopens =
`reopen` rows of cases it leads; extensions = its requests made in the period. The return
rate is of the cases given in the period, those it returned after being given them (a
return of a case given before the period counts among the returns, not in the rate, which
could otherwise pass 100 %).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from statistics import median

from django.db import connection, transaction
from django.db.models import (
    Avg,
    BigIntegerField,
    Case,
    Count,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    Subquery,
    When,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce
from django.db.models.lookups import Exact, IsNull

from cases.models import Case as CaseModel
from cases.models import CaseEvent, ExtensionRequest, State
from departments.models import Department

# A figure is flagged when it is more than FLAG_FACTOR times the departments' median and
# above it by at least the margin (so that 2 % against 1 % is not an alarm).
FLAG_FACTOR = 2
MARGINS = {
    "return_rate": 0.1,
    "reopen_rate": 0.1,
    "extension_rate": 0.1,
    "accept_hours": 4.0,
}


# The department a liaison's step was for: as the audit row recorded it, or, for rows
# written before they did, the liaison's department now.
ACTING_DEPARTMENT = Coalesce(
    Cast(KeyTextTransform("department", "data"), BigIntegerField()),
    F("actor__department_id"),
    output_field=BigIntegerField(),
)


@dataclass
class DepartmentFigures:
    department: Department
    given: int = 0
    returns: int = 0
    returns_of_given: int = 0  # of the cases given in the period: the return rate's part
    accepts: int = 0
    resolves: int = 0
    reopens: int = 0
    extensions: int = 0
    extensions_approved: int = 0
    accept_hours: float | None = None
    flags: set[str] = field(default_factory=set)

    @property
    def return_rate(self) -> float | None:
        return self.returns_of_given / self.given if self.given else None

    @property
    def reopen_rate(self) -> float | None:
        return self.reopens / self.resolves if self.resolves else None

    @property
    def extension_rate(self) -> float | None:
        return self.extensions / self.given if self.given else None


_LEAD = Cast(KeyTextTransform("lead", "data"), BigIntegerField())
_LEAD_BEFORE = Cast(KeyTextTransform("lead", "data__old"), BigIntegerField())
# A correction of an assigned case writes the lead routing names now (None when it goes
# back to the pool) beside the lead before: a different one was given the case.
GIVING = Q(action__in=["route", "dispatch"], to_state=State.ASSIGNED) | Q(
    IsNull(_LEAD, False),
    ~Q(Exact(_LEAD, _LEAD_BEFORE)),
    action="correct",
    to_state=State.ASSIGNED,
)
# Disputes only: a correction that sends a case back to the pool returns it with no actor.
DISPUTE = Q(action="return", actor__isnull=False)
# The department each counted audit row is about: the lead a case was given, the department
# that returned it, the lead of a reopened case (looked up for those rows only), or the
# department a liaison's step was for.
_DEPARTMENT_OF_ROW = Case(
    When(GIVING, then=_LEAD),
    When(action="return", then=Cast(KeyTextTransform("returned_by", "data"), BigIntegerField())),
    When(
        action="reopen",
        then=Subquery(
            CaseModel.objects.filter(pk=OuterRef("case_id")).values("lead_department_id")[:1]
        ),
    ),
    default=ACTING_DEPARTMENT,
    output_field=BigIntegerField(),
)


def department_figures(
    *, start: datetime, end: datetime, township_id: int | None = None
) -> list[DepartmentFigures]:
    """The figures of every department for events in [start, end), flags set; with a
    `township_id`, of that township's cases only (departments serve the whole district).
    One scan of the period's audit rows gives every audit figure."""
    events = CaseEvent.objects.filter(at__gte=start, at__lt=end)
    extension_requests = ExtensionRequest.objects.filter(created_at__gte=start, created_at__lt=end)
    if township_id is not None:
        events = events.filter(case__township_id=township_id)
        extension_requests = extension_requests.filter(case__township_id=township_id)
    given_before_it = (
        events.filter(GIVING)
        .annotate(lead=_LEAD)
        .filter(case=OuterRef("case"), lead=OuterRef("department"), at__lte=OuterRef("at"))
    )
    # Time to accept: from the latest row that assigned the case before the accept.
    assigned_at = (
        CaseEvent.objects.filter(
            case=OuterRef("case"), to_state=State.ASSIGNED, at__lte=OuterRef("at")
        )
        .order_by("-at", "-id")
        .values("at")[:1]
    )
    accepted = Q(action="accept")
    # PostgreSQL evaluates an aggregate's argument only for the rows its FILTER lets through,
    # so the look-ups of Exists and assigned_at run for returns and accepts alone.
    rows = (
        events.filter(GIVING | DISPUTE | Q(action__in=["accept", "resolve", "reopen"]))
        .annotate(department=_DEPARTMENT_OF_ROW)
        .values("department")
        .annotate(
            given=Count("pk", filter=GIVING),
            returns=Count("pk", filter=DISPUTE),
            returns_of_given=Count("pk", filter=DISPUTE & Q(Exists(given_before_it))),
            accepts=Count("pk", filter=accepted),
            resolves=Count("pk", filter=Q(action="resolve")),
            reopens=Count("pk", filter=Q(action="reopen")),
            accept_wait=Avg(
                ExpressionWrapper(F("at") - Subquery(assigned_at), output_field=DurationField()),
                filter=accepted,
            ),
        )
    )
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # The correlated look-ups lift the plan's cost estimate past jit_optimize_above_cost,
            # and compiling took longer than running the query (0.6 of 1.0 s, 100,000 cases).
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('jit', 'off', true)")
        by_department = {row.pop("department"): row for row in rows}
    extension_rows = extension_requests.values("department_id").annotate(
        extensions=Count("pk"), extensions_approved=Count("pk", filter=Q(status="approved"))
    )
    extensions = {row.pop("department_id"): row for row in extension_rows}

    figures = []
    for department in Department.objects.order_by("code"):
        counts = {**by_department.get(department.pk, {}), **extensions.get(department.pk, {})}
        wait = counts.pop("accept_wait", None)
        figures.append(
            DepartmentFigures(
                department=department,
                accept_hours=wait / timedelta(hours=1) if wait is not None else None,
                **counts,
            )
        )
    _flag(figures)
    return figures


def _flag(figures: list[DepartmentFigures]) -> None:
    for name, margin in MARGINS.items():
        values = [getattr(f, name) for f in figures if getattr(f, name) is not None]
        if len(values) < 2:
            continue
        middle = median(values)
        for figure in figures:
            value = getattr(figure, name)
            if value is not None and value > FLAG_FACTOR * middle and value - middle >= margin:
                figure.flags.add(name)


LIAISON_STEPS = ["accept", "resolve", "report_for_duty"]


def events_of_department(events, department_id: int):
    """The audit rows that the figures of a department count (for the admin's links)."""
    return events.annotate(acting_department=ACTING_DEPARTMENT).filter(
        GIVING & Q(data__lead=department_id)
        | Q(action="return", actor__isnull=False, data__returned_by=department_id)
        | Q(action__in=LIAISON_STEPS, acting_department=department_id)
        | Q(action__startswith="extension_", data__department=department_id)
        | Q(action="reopen", case__lead_department_id=department_id)
    )
