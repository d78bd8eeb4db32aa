"""Supervision of power (selectors): per department and period, how often it returns the
cases it is given, asks for and gets extensions, has its fixes reopened by the caseworker,
and how long it takes to accept. The figures are sums over the period's days of the daily
roll-up `SupervisionFigures` (kept up to date by `cases.services.supervision` from the
audit trail); the departments far above the others are flagged.

A department's figures, by audit row: given = `route`/`dispatch` rows naming it as lead,
and `correct` rows that re-routed an assigned case from another lead to it;
returns = `return` rows it made; accepts and resolves = its liaisons' rows (for the
department each row names: a liaison may have moved since); reopens = `reopen` rows of
cases it led when they were reopened; extensions = its requests made in the period (their
`extension_request` rows), approved = those of them approved since (`extension_approve`
rows, counted on the day of the request). The
return rate is of the cases given in the period, those it returned after being given them
(a return of a case given before the period counts among the returns, not in the rate,
which could otherwise pass 100 %): each return row records when its case was given
(`given_at`), and the roll-up counts returns per day of return and day given. The reopen
rate likewise is of the period's resolves, those reopened (a reopen of a case resolved
before the period counts among the reopens, not in the rate): the roll-up counts reopens
per day of reopening and day of the resolve reopened, its case's latest `resolve` row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import partial
from statistics import median
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import (
    BigIntegerField,
    Case,
    Count,
    DateTimeField,
    DurationField,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    When,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce, TruncDate
from django.db.models.lookups import Exact, IsNull

from cases.models import Case as CaseModel
from cases.models import CaseEvent, ExtensionRequest, State, SupervisionFigures
from cases.models.audit import DEPARTMENT_RETURN
from cases.models.supervision import SUPERVISION_FIELDS
from departments.models import Department, User

# A figure is flagged when it is more than FLAG_FACTOR times the departments' median and
# above it by at least the margin (so that 2 % against 1 % is not an alarm).
FLAG_FACTOR = 2
MARGINS = {
    "return_rate": 0.1,
    "reopen_rate": 0.1,
    "extension_rate": 0.1,
    "accept_hours": 4.0,
}

_RECORDED_DEPARTMENT = Cast(KeyTextTransform("department", "data"), BigIntegerField())
# The department a liaison's step was for: as the audit row recorded it, or, for rows
# written before they did, the liaison's department now.
ACTING_DEPARTMENT = Coalesce(
    _RECORDED_DEPARTMENT, F("actor__department_id"), output_field=BigIntegerField()
)
# The department that led a reopened case: as the `reopen` row recorded it, or, for rows
# written before they did, the case's lead now.
REOPENED_DEPARTMENT = Coalesce(
    _RECORDED_DEPARTMENT, F("case__lead_department_id"), output_field=BigIntegerField()
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
    reopens_of_resolved: int = 0  # of the cases resolved in the period: the reopen rate's part
    extensions: int = 0
    extensions_approved: int = 0
    accept_hours: float | None = None
    flags: set[str] = field(default_factory=set)

    @property
    def return_rate(self) -> float | None:
        return self.returns_of_given / self.given if self.given else None

    @property
    def reopen_rate(self) -> float | None:
        return self.reopens_of_resolved / self.resolves if self.resolves else None

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
# Extension requests, counted by their audit rows (which record the department asking).
EXTENSION_ASKED = Q(action="extension_request")
EXTENSION_APPROVED = Q(action="extension_approve")
# The department each counted audit row is about: the lead a case was given, the department
# that returned it, the lead of a reopened case, or the department a liaison's step was for.
_DEPARTMENT_OF_ROW = Case(
    When(GIVING, then=_LEAD),
    When(action="return", then=Cast(KeyTextTransform("returned_by", "data"), BigIntegerField())),
    When(action="reopen", then=REOPENED_DEPARTMENT),
    default=ACTING_DEPARTMENT,
    output_field=BigIntegerField(),
)


def given_at_of_return(*, case_id: int, department_id: int, at) -> str | None:
    """When the case was last given to `department_id`, at or before `at`: the moment a
    dispute return records (ISO 8601), None if no audit row gave it."""
    given = (
        CaseEvent.objects.filter(GIVING, case_id=case_id, at__lte=at)
        .annotate(lead=_LEAD)
        .filter(lead=department_id)
        .order_by("-at", "-id")
        .values_list("at", flat=True)
        .first()
    )
    return given.isoformat() if given else None


def counted_rows(events: QuerySet[CaseEvent]) -> QuerySet:
    """`events` counted into `SupervisionFigures` rows: one row of counts per local day,
    township of the case, department and (for dispute returns) local day given. The SQL
    `cases.services.supervision` adds to the roll-up."""
    zone = ZoneInfo(settings.TIME_ZONE)
    # Time to accept: from the latest row that assigned the case before the accept.
    assigned_at = (
        CaseEvent.objects.filter(
            case=OuterRef("case"), to_state=State.ASSIGNED, at__lte=OuterRef("at")
        )
        .order_by("-at", "-id")
        .values("at")[:1]
    )
    wait = ExpressionWrapper(F("at") - Subquery(assigned_at), output_field=DurationField())
    accepted = Q(action="accept")
    given_at = Cast(KeyTextTransform("given_at", "data"), DateTimeField())
    # A reopen sends back the case's latest resolve.
    resolved_at = Subquery(
        CaseEvent.objects.filter(case=OuterRef("case"), action="resolve", at__lte=OuterRef("at"))
        .order_by("-at", "-id")
        .values("at")[:1]
    )
    # An approval counts on the day of its request, among the requests of that day.
    requested_at = Subquery(
        ExtensionRequest.objects.filter(
            pk=Cast(KeyTextTransform("extension", OuterRef("data")), BigIntegerField())
        ).values("created_at")[:1]
    )
    counted = GIVING | DEPARTMENT_RETURN | EXTENSION_ASKED | EXTENSION_APPROVED
    return (
        events.filter(counted | Q(action__in=["accept", "resolve", "reopen"]))
        .annotate(
            row_day=TruncDate(
                Case(When(EXTENSION_APPROVED, then=requested_at), default=F("at")), tzinfo=zone
            ),
            row_township=F("case__township_id"),
            row_department=_DEPARTMENT_OF_ROW,
            row_given_day=Case(
                When(DEPARTMENT_RETURN, then=TruncDate(given_at, tzinfo=zone)),
                When(action="reopen", then=TruncDate(resolved_at, tzinfo=zone)),
            ),
        )
        .filter(row_department__isnull=False)
        .values("row_day", "row_township", "row_department", "row_given_day")
        .annotate(
            row_given=Count("pk", filter=GIVING),
            row_returns=Count("pk", filter=DEPARTMENT_RETURN),
            row_accepts=Count("pk", filter=accepted),
            row_resolves=Count("pk", filter=Q(action="resolve")),
            row_reopens=Count("pk", filter=Q(action="reopen")),
            # PostgreSQL evaluates an aggregate's argument only for the rows its FILTER
            # lets through: the look-ups of assigned_at run for accepts alone.
            row_accept_wait=Coalesce(
                Sum(wait, filter=accepted), timedelta(0), output_field=DurationField()
            ),
            row_accept_waits=Count(wait, filter=accepted),
            row_extensions=Count("pk", filter=EXTENSION_ASKED),
            row_extensions_approved=Count("pk", filter=EXTENSION_APPROVED),
        )
        .order_by()
    )


def department_figures(
    *, first: date, last: date, township_id: int | None = None
) -> list[DepartmentFigures]:
    """The figures of every department for the local days `first` to `last` (inclusive),
    flags set, as of the last `supervision_refresh`; with a `township_id`, of that
    township's cases only (departments serve the whole district). Two queries, the
    roll-up's sums and the departments, whatever the number of audit rows."""
    days = SupervisionFigures.objects.filter(day__gte=first, day__lte=last)
    if township_id is not None:
        days = days.filter(township_id=township_id)
    sums = {f"sum_{name}": Sum(name) for name in SUPERVISION_FIELDS}
    # Returns of cases given on a day of the period (never after the return).
    sums["sum_returns_of_given"] = Sum("returns", filter=Q(given_day__gte=first))
    # Reopens of cases resolved on a day of the period (never after the reopen).
    sums["sum_reopens_of_resolved"] = Sum("reopens", filter=Q(given_day__gte=first))
    by_department = {
        row.pop("department_id"): {
            name.removeprefix("sum_"): value for name, value in row.items() if value is not None
        }
        for row in days.values("department_id").annotate(**sums)
    }
    figures = []
    for department in Department.objects.order_by("code"):
        counts = by_department.get(department.pk, {})
        wait, waits = counts.pop("accept_wait", None), counts.pop("accept_waits", 0)
        figures.append(
            DepartmentFigures(
                department=department,
                accept_hours=wait / waits / timedelta(hours=1) if waits else None,
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
    """The audit rows that the figures of a department count (for the admin's links). The
    departments not recorded on a row are asked of its actor or its case by a subquery,
    for the few such rows, not by joining every row's case: the join made the admin's
    count read every case (1 s for a month at a million cases)."""
    recorded_or = partial(Coalesce, _RECORDED_DEPARTMENT, output_field=BigIntegerField())
    actor_department = User.objects.filter(pk=OuterRef("actor_id")).values("department_id")
    case_lead = CaseModel.objects.filter(pk=OuterRef("case_id")).order_by()
    case_lead = case_lead.values("lead_department_id")
    return events.alias(
        acting_department=recorded_or(Subquery(actor_department)),
        reopened_department=recorded_or(Subquery(case_lead)),
    ).filter(
        GIVING & Q(data__lead=department_id)
        | DEPARTMENT_RETURN & Q(data__returned_by=department_id)
        | Q(action__in=LIAISON_STEPS, acting_department=department_id)
        | Q(action__startswith="extension_", data__department=department_id)
        | Q(action="reopen", reopened_department=department_id)
    )
