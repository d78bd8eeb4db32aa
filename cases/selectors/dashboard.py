"""Selectors of the supervisors' dashboard (/dashboard/). Every figure is aggregated in the
database, never by looping over cases.

Definitions (of the cases reported in the period):
- open: not closed or cancelled; overdue: a running clock at or past its deadline now.
- on time: closed without ever being escalated (a due-soon reminder is no escalation).
- response rate: of the cases accepted or escalated on their accept deadline, those
  accepted before it escalated (a case never accepted counts against it once the sweep
  has escalated it, within a sweep's period of its deadline; overdue counts it at once);
  resolution rate: the same of resolving, on the resolve deadline.
- fallback rate: the share routed to a fallback pool (on report, or again by a correction);
  return rate: the share returned by a department at least once.

Where they come from: the daily roll-up `DailyFigures` (one row per local day of reporting,
township, lead department and cell; `cases/services/figures.py` keeps it up to date and
computes each case's facts from the audit trail and the escalations), brought up to date
first (unless another refresh is under way: `dashboard_data`), so that the page reads a
few thousand roll-up rows instead of every case of the period; its `overdue` counts are as
of that refresh. The early warnings (due soon, recurrences) list cases, from the cases.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import Exists, F, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import Coalesce, TruncWeek
from django.utils import timezone

from cases.models import CLOCK_STATES, Case, DailyFigures, FiguresMark, State
from cases.models.figures import COUNTED_FIELDS
from cases.permissions import may_see_dashboard
from cases.selectors.access import cases_visible_to, supervised_township_id
from cases.selectors.lists import local_midnight
from cases.services.figures import figures_refresh
from cases.services.rollups import refreshed_as_of
from departments.calendar import get_calendar
from departments.models import Department, GridCell, User

# The period the dashboard and the supervision page open with, today included.
DEFAULT_PERIOD_DAYS = 30
RECURRENCE_DAYS = 30
HOTSPOT_RECENT_DAYS = 7
HOTSPOT_BASELINE_WEEKS = 8
HOTSPOT_FACTOR = 2
HOTSPOT_MIN_CASES = 3
WEEKLY_AFTER_DAYS = 31  # longer periods are charted by week
DUE_SOON_LISTED = 50

SUMS = {name: Coalesce(Sum(name), 0) for name in COUNTED_FIELDS}


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # inclusive

    @property
    def bounds(self) -> tuple[datetime, datetime]:
        return local_midnight(self.start), local_midnight(self.end + timedelta(days=1))

    @property
    def weekly(self) -> bool:
        return (self.end - self.start).days > WEEKLY_AFTER_DAYS

    def buckets(self) -> list[tuple[date, date]]:
        """The chart's buckets over the whole period, each its first and last day counted:
        every day, or every week (Monday to Sunday, as TruncWeek) of a long period, the first
        and last weeks cut at the period's ends. Listed here, not from the roll-up, so that a
        day or week without cases is charted as one, not left out; cut, so that a week
        partly outside the period is not labelled with a day it does not count."""
        step = timedelta(weeks=1) if self.weekly else timedelta(days=1)
        day = self.start - timedelta(days=self.start.weekday()) if self.weekly else self.start
        buckets = []
        while day <= self.end:
            buckets.append((max(day, self.start), min(day + step - timedelta(days=1), self.end)))
            day += step
        return buckets


def with_rates(row: dict) -> dict:
    def rate(part, whole):
        return round(100 * row[part] / row[whole], 1) if row[whole] else None

    row = dict(row)
    row["open_rate"] = rate("open", "total")
    row["overdue_rate"] = rate("overdue", "open")
    row["on_time_rate"] = rate("on_time", "closed")
    row["response_rate"] = rate("accepted_in_time", "accept_due")
    row["resolution_rate"] = rate("resolved_in_time", "resolve_due")
    row["fallback_rate"] = rate("fallback", "total")
    row["return_rate"] = rate("returned", "total")
    count = row.pop("satisfaction_count")
    total = row.pop("satisfaction_sum")
    row["satisfaction"] = round(total / count, 2) if count else None
    return row


def figures_visible_to(user: User, township_id: int | None = None) -> QuerySet[DailyFigures]:
    """The roll-up rows of the cases `user` may see: for those who may see the dashboard,
    by township as `cases_visible_to` (a township's supervisor their own); none for anyone
    else, since the roll-up does not say which departments assisted on a case."""
    rows = DailyFigures.objects.all()
    if not may_see_dashboard(user):
        return rows.none()
    for township in {supervised_township_id(user), township_id} - {None}:
        rows = rows.filter(township_id=township)
    return rows


def visible_in(user: User, township_id: int | None = None) -> QuerySet[Case]:
    """The cases `user` may see, of one township when the page chose one."""
    cases = cases_visible_to(user)
    return cases.filter(township_id=township_id) if township_id else cases


def scoped(user: User, period: Period, township_id: int | None = None) -> QuerySet[Case]:
    start, end = period.bounds
    return visible_in(user, township_id).filter(created_at__gte=start, created_at__lt=end)


def dashboard_data(user: User, *, period: Period, township_id: int | None = None) -> dict:
    """Every figure of the dashboard for the cases `user` may see, reported in `period`, as
    of the refresh it starts with. Unless another refresh is under way (the beat's first
    build after an upgrade, longer than a page may wait): then the roll-up's figures as of
    its last refresh (`as_of`), or, before its first, none (`building`) rather than zeros.
    The early warnings and the cases overdue now read the cases, as of now."""
    refresh = figures_refresh(wait=False)
    if refresh is None:
        as_of = refreshed_as_of(FiguresMark)
        if as_of is None:
            return {"as_of": None, "building": True}
        # A case due since the last refresh is overdue now, not due soon.
        now = max(timezone.now(), as_of)
    else:
        as_of, now = None, refresh.now
    due, due_more = due_soon(user, township_id=township_id, now=now)
    visible = figures_visible_to(user, township_id)
    in_period = Q(day__gte=period.start, day__lte=period.end)
    recent_start, baseline_start = hotspot_window(as_of or now)
    # One pass over the roll-up for the period's figures and the hotspots' weeks.
    groups = list(
        visible.filter(in_period | Q(day__gte=baseline_start))
        .values("lead_department_id", "cell_id")
        .annotate(  # the hotspots' first: they read the `total` column, not its sum
            recent=Coalesce(Sum("total", filter=Q(day__gte=recent_start)), 0),
            before=Coalesce(
                Sum("total", filter=Q(day__gte=baseline_start, day__lt=recent_start)), 0
            ),
            **{name: Coalesce(Sum(name, filter=in_period), 0) for name in COUNTED_FIELDS},
        )
        .order_by()
    )
    _add_names(groups)
    bucket = TruncWeek("day") if period.weekly else F("day")
    counted = {  # by the first day counted: a week's Monday, or the period's start
        max(row.pop("bucket"), period.start): row
        for row in visible.filter(in_period)
        .annotate(bucket=bucket)
        .values("bucket")
        .annotate(**SUMS)
        .order_by()
    }
    # A bucket without cases counts 0 and has no rates (None: a gap, not a 0 % rate).
    buckets = [(first, last, counted.get(first, _blank())) for first, last in period.buckets()]

    totals, by_department, by_cell = _blank(), {}, {}
    for group in groups:
        if not group["total"]:
            continue  # a group of the hotspots' weeks only
        row = by_department.setdefault(
            group["lead_department_id"],
            {
                "lead_department__code": group["lead_department__code"],
                "lead_department__name": group["lead_department__name"],
                **_blank(),
            },
        )
        _add(row, group)
        row = by_cell.setdefault(
            group["cell_id"],
            {
                "cell_id": group["cell_id"],
                "cell__code": group["cell__code"],
                "cell__name": group["cell__name"],
                **_blank(),
            },
        )
        _add(row, group)
        _add(totals, group)
    return {
        "as_of": as_of,  # None: brought up to date for this page
        "building": False,
        "totals": with_rates(totals),
        "by_department": [
            with_rates(row)
            for row in sorted(by_department.values(), key=_by("lead_department__code"))
        ],
        "by_cell": [with_rates(row) for row in sorted(by_cell.values(), key=_by("cell__code"))],
        "series": [
            {**with_rates(row), "bucket": first.isoformat(), "last": last.isoformat()}
            for first, last, row in buckets
        ],
        # Whenever reported: the period's figures leave out an old case overdue today.
        "overdue_now": overdue_now(user, township_id=township_id, now=now),
        "due_soon": due,
        "due_soon_more": due_more,
        "hotspots": hotspots(groups),
        "recurrences": recurrences(user, period=period, township_id=township_id),
    }


def overdue_now(user: User, *, township_id: int | None = None, now: datetime) -> int:
    """The visible cases overdue at `now`, whenever they were reported (one count over the
    deadline index)."""
    return visible_in(user, township_id).overdue(now).count()


def _add_names(groups: list[dict]) -> None:
    """Each group's department and cell code and name, by two small lookups: grouping the
    roll-up by them instead (joined to every row before the GROUP BY) made the page's main
    query three times slower."""
    for model, key in ((Department, "lead_department"), (GridCell, "cell")):
        pks = {group[f"{key}_id"] for group in groups} - {None}
        names = {
            pk: (code, name)
            for pk, code, name in model.objects.filter(pk__in=pks).values_list("pk", "code", "name")
        }
        for group in groups:
            group[f"{key}__code"], group[f"{key}__name"] = names.get(
                group[f"{key}_id"], (None, None)
            )


def _blank() -> dict:
    return dict.fromkeys(COUNTED_FIELDS, 0)


def _add(row: dict, group: dict) -> None:
    for name in COUNTED_FIELDS:
        row[name] += group[name]


def _by(code: str):
    """Sort by a code, the rows without one (fallback pool, outside the grid) last."""
    return lambda row: (row[code] is None, row[code] or "")


def due_soon(
    user: User, *, township_id: int | None = None, now: datetime
) -> tuple[list[Case], int]:
    """Open cases whose deadline is still ahead (at it they are overdue) and falls within
    the next working day: the first
    DUE_SOON_LISTED by deadline, and how many more there are, so that the page says it left
    some out. The count is one query, run only when the list is full."""
    calendar = get_calendar()
    horizon = calendar.add_working_seconds(now, int(calendar.day_seconds))
    cases = visible_in(user, township_id).filter(
        state__in=CLOCK_STATES, due_at__gt=now, due_at__lte=horizon
    )
    listed = list(
        cases.select_related("cell", "category", "lead_department").order_by("due_at")[
            :DUE_SOON_LISTED
        ]
    )
    more = cases.count() - len(listed) if len(listed) == DUE_SOON_LISTED else 0
    return listed, more


def hotspot_window(now: datetime) -> tuple[date, date]:
    """The first day of the last week (today and the six days before) and of the eight
    weeks before it, in whole local days."""
    recent_start = timezone.localdate(now) - timedelta(days=HOTSPOT_RECENT_DAYS - 1)
    return recent_start, recent_start - timedelta(weeks=HOTSPOT_BASELINE_WEEKS)


def hotspots(groups: list[dict]) -> list[dict]:
    """Cells with well more cases in the last week than their weekly average of the eight
    weeks before (at least HOTSPOT_FACTOR times that average plus one, so that a quiet cell
    with a stray case or two is no hotspot, and at least HOTSPOT_MIN_CASES), from the
    roll-up groups' `recent` and `before` counts (see `hotspot_window`)."""
    counts = defaultdict(lambda: [0, 0])
    for group in groups:
        if group["cell_id"] is not None:
            cell = (group["cell_id"], group["cell__code"], group["cell__name"])
            counts[cell][0] += group["recent"]
            counts[cell][1] += group["before"]
    rows = [
        {
            "cell_id": cell_id,
            "cell__code": code,
            "cell__name": name,
            "recent": recent,
            "before": before,
            "usual": round(before / HOTSPOT_BASELINE_WEEKS, 1),
        }
        for (cell_id, code, name), (recent, before) in counts.items()
        if recent >= HOTSPOT_MIN_CASES
        and recent >= HOTSPOT_FACTOR * (before / HOTSPOT_BASELINE_WEEKS + 1)
    ]
    return sorted(rows, key=lambda row: (-row["recent"], row["cell__code"]))[:20]


def recurrences(user: User, *, period: Period, township_id: int | None = None) -> list[Case]:
    """Cases of the period whose category came back in the same cell within 30 days of a
    closed case there; a case cancelled (invalid, or a duplicate of one already counted)
    is no recurrence."""
    earlier = Case.objects.filter(
        category_id=OuterRef("category_id"),
        cell_id=OuterRef("cell_id"),
        state=State.CLOSED,
        closed_at__lte=OuterRef("created_at"),
        closed_at__gte=OuterRef("created_at") - timedelta(days=RECURRENCE_DAYS),
    )
    cases = scoped(user, period, township_id).filter(category__isnull=False, cell__isnull=False)
    cases = cases.exclude(state=State.CANCELLED)
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
