"""Selectors of the supervisors' dashboard (/dashboard/). Every figure is aggregated in the
database (conditional counts, averages, truncated dates), never by looping over cases.

Definitions:
- open: not closed or cancelled; overdue: a running clock past its deadline now.
- on time: closed without ever being escalated.
- response rate: of the cases accepted, those accepted before their accept deadline
  escalated; resolution rate: of the cases resolved, those resolved before their resolve
  deadline escalated.
- fallback rate: the share routed to a fallback pool; return rate: the share returned by a
  department at least once.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Avg, Count, Exists, F, OuterRef, Q, QuerySet
from django.db.models.functions import TruncDay, TruncWeek
from django.utils import timezone

from cases.models import CLOCK_STATES, TERMINAL_STATES, Case, CaseEvent, Escalation, State
from cases.selectors import cases_visible_to
from departments.calendar import get_calendar
from departments.models import User

RECURRENCE_DAYS = 30
HOTSPOT_RECENT_DAYS = 7
HOTSPOT_BASELINE_WEEKS = 8
HOTSPOT_FACTOR = 2
HOTSPOT_MIN_CASES = 3


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # inclusive

    @property
    def bounds(self) -> tuple[datetime, datetime]:
        tz = timezone.get_current_timezone()
        return (
            datetime.combine(self.start, time.min, tzinfo=tz),
            datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=tz),
        )


def annotated(cases: QuerySet[Case]) -> QuerySet[Case]:
    """Cases with the facts the rates need, as EXISTS subqueries."""
    events = CaseEvent.objects.filter(case=OuterRef("pk"))
    escalations = Escalation.objects.filter(case=OuterRef("pk"))
    return cases.annotate(
        was_accepted=Exists(events.filter(action="accept")),
        was_resolved=Exists(events.filter(action="resolve")),
        went_to_pool=Exists(events.filter(action="route", to_state=State.FALLBACK)),
        was_returned=Exists(events.filter(action="return")),
        late_accept=Exists(escalations.filter(deadline_kind="accept")),
        late_resolve=Exists(escalations.filter(deadline_kind="resolve")),
        ever_late=Exists(escalations),
    )


def counts(now: datetime) -> dict:
    """The conditional counts shared by the totals, the breakdowns and the time series."""
    open_q = ~Q(state__in=TERMINAL_STATES)
    return {
        "total": Count("pk"),
        "open": Count("pk", filter=open_q),
        "overdue": Count("pk", filter=Q(state__in=CLOCK_STATES, due_at__lt=now)),
        "closed": Count("pk", filter=Q(state=State.CLOSED)),
        "on_time": Count("pk", filter=Q(state=State.CLOSED, ever_late=False)),
        "accepted": Count("pk", filter=Q(was_accepted=True)),
        "accepted_in_time": Count("pk", filter=Q(was_accepted=True, late_accept=False)),
        "resolved": Count("pk", filter=Q(was_resolved=True)),
        "resolved_in_time": Count("pk", filter=Q(was_resolved=True, late_resolve=False)),
        "fallback": Count("pk", filter=Q(went_to_pool=True)),
        "returned": Count("pk", filter=Q(was_returned=True)),
        "satisfaction": Avg("satisfaction"),
    }


def with_rates(row: dict) -> dict:
    def rate(part, whole):
        return round(100 * row[part] / row[whole], 1) if row[whole] else None

    row = dict(row)
    row["open_rate"] = rate("open", "total")
    row["overdue_rate"] = rate("overdue", "open")
    row["on_time_rate"] = rate("on_time", "closed")
    row["response_rate"] = rate("accepted_in_time", "accepted")
    row["resolution_rate"] = rate("resolved_in_time", "resolved")
    row["fallback_rate"] = rate("fallback", "total")
    row["return_rate"] = rate("returned", "total")
    if row.get("satisfaction") is not None:
        row["satisfaction"] = round(float(row["satisfaction"]), 2)
    return row


def scoped(user: User, period: Period, township_id: int | None = None) -> QuerySet[Case]:
    start, end = period.bounds
    cases = cases_visible_to(user).filter(created_at__gte=start, created_at__lt=end)
    if township_id:
        cases = cases.filter(township_id=township_id)
    return cases


def dashboard_data(
    user: User, *, period: Period, township_id: int | None = None, now: datetime | None = None
) -> dict:
    """Every figure of the dashboard for the cases `user` may see, reported in `period`."""
    now = now or timezone.now()
    base = annotated(scoped(user, period, township_id))
    agg = counts(now)
    totals = with_rates(base.aggregate(**agg))
    by_department = [
        with_rates(row)
        for row in base.values("lead_department__code", "lead_department__name")
        .annotate(**agg)
        .order_by("lead_department__code")
    ]
    by_cell = [
        with_rates(row)
        for row in base.values("cell_id", "cell__code", "cell__name")
        .annotate(**agg)
        .order_by("cell__code")
    ]
    trunc = TruncDay if (period.end - period.start).days <= 31 else TruncWeek
    series = [
        {**with_rates(row), "bucket": timezone.localtime(row["bucket"]).date().isoformat()}
        for row in base.annotate(bucket=trunc("created_at"))
        .values("bucket")
        .annotate(**agg)
        .order_by("bucket")
    ]
    return {
        "totals": totals,
        "by_department": by_department,
        "by_cell": by_cell,
        "series": series,
        "due_soon": due_soon(user, township_id=township_id, now=now),
        "hotspots": hotspots(user, township_id=township_id, now=now),
        "recurrences": recurrences(user, period=period, township_id=township_id),
    }


def due_soon(user: User, *, township_id: int | None = None, now: datetime) -> list[Case]:
    """Open cases whose deadline falls within the next working day."""
    calendar = get_calendar()
    horizon = calendar.add_working_seconds(now, int(calendar.day_seconds))
    cases = cases_visible_to(user).filter(
        state__in=CLOCK_STATES, due_at__gte=now, due_at__lte=horizon
    )
    if township_id:
        cases = cases.filter(township_id=township_id)
    return list(cases.select_related("cell", "category", "lead_department").order_by("due_at")[:50])


def hotspots(user: User, *, township_id: int | None = None, now: datetime) -> list[dict]:
    """Cells with well more cases in the last week than their weekly average of the eight
    weeks before (at least HOTSPOT_FACTOR times, and at least HOTSPOT_MIN_CASES)."""
    recent_start = now - timedelta(days=HOTSPOT_RECENT_DAYS)
    baseline_start = recent_start - timedelta(weeks=HOTSPOT_BASELINE_WEEKS)
    cases = cases_visible_to(user).filter(cell__isnull=False, created_at__gte=baseline_start)
    if township_id:
        cases = cases.filter(township_id=township_id)
    rows = (
        cases.values("cell_id", "cell__code", "cell__name")
        .annotate(
            recent=Count("pk", filter=Q(created_at__gte=recent_start)),
            before=Count("pk", filter=Q(created_at__lt=recent_start)),
        )
        .filter(recent__gte=HOTSPOT_MIN_CASES)
        .filter(recent__gte=HOTSPOT_FACTOR * (F("before") / float(HOTSPOT_BASELINE_WEEKS) + 1))
        .order_by("-recent")
    )
    return [{**row, "usual": round(row["before"] / HOTSPOT_BASELINE_WEEKS, 1)} for row in rows[:20]]


def recurrences(user: User, *, period: Period, township_id: int | None = None) -> list[Case]:
    """Cases of the period whose category came back in the same cell within 30 days of a
    closed case there."""
    earlier = Case.objects.filter(
        category_id=OuterRef("category_id"),
        cell_id=OuterRef("cell_id"),
        state=State.CLOSED,
        closed_at__lte=OuterRef("created_at"),
        closed_at__gte=OuterRef("created_at") - timedelta(days=RECURRENCE_DAYS),
    )
    cases = scoped(user, period, township_id).filter(category__isnull=False, cell__isnull=False)
    return list(
        cases.filter(Exists(earlier))
        .select_related("cell", "category")
        .order_by("-created_at")[:50]
    )


def cell_map(by_cell: list[dict], cells: dict) -> dict:
    """The cells' GeoJSON with each cell's open and overdue counts, for the shaded map."""
    figures = {row["cell_id"]: row for row in by_cell if row["cell_id"]}
    for feature in cells["features"]:
        row = figures.get(feature["properties"]["id"], {})
        feature["properties"]["open"] = row.get("open", 0)
        feature["properties"]["overdue"] = row.get("overdue", 0)
    return cells
