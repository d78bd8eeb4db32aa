"""Keeping the dashboard's daily roll-up (`DailyFigures`) up to date, set-based.

`figures_refresh` recomputes whole days. The days to recompute are the local days of
reporting of the cases saved since the last refresh (every save of a case moves its
`updated_at`: `Case.save`) and of the cases escalated since (the sweep writes `Escalation`
rows without saving the case). Those days' rows are deleted and inserted again with one
`INSERT … SELECT … GROUP BY` over the cases reported on them, so a case that moved from
one department or cell to another leaves its old row and joins its new one. A fixed
handful of statements, whatever the number of cases or of days.

Who calls it: `dashboard_data` before it reads (figures are exact right after a workflow
step, and cheap when little changed), the beat every minute (`cases.refresh_figures`, so
that page loads find little left to do), the 0010 migration and `seed_demo` (everything).

Refreshes are serialised by a transaction-level advisory lock on PostgreSQL (SQLite has
one writer at a time anyway). A transaction still open during a refresh may commit later
with an `updated_at` or an escalation id below what the refresh has seen, so the marks
stay behind every open transaction: `cases_changed_since` at the oldest open
transaction's start (less CLOCK_SLACK, for a `now` taken just before a transaction's first
statement and for clocks of other machines), `escalations_after` at an id sequence value
read before every open transaction began (or the current one when none is open). Open
transactions are those of pg_stat_activity, which shows the database role its own
sessions: the web, worker and beat processes must share one role, as they do.
"""

from __future__ import annotations

import operator
import zlib
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import reduce
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Exists, Max, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from cases.models import (
    TERMINAL_STATES,
    Case,
    CaseEvent,
    DailyFigures,
    Escalation,
    FiguresMark,
    State,
)

# How far before a refresh's own clock a change can carry an `updated_at` yet commit after.
CLOCK_SLACK = timedelta(seconds=10)
LOCK_KEY = zlib.crc32(b"cases.figures_refresh")

# The counted columns of `DailyFigures`, in insert order, and how each counts a group's
# cases (see the definitions in cases/dashboard.py).
FIGURES = {
    "total": Count("pk"),
    "open": Count("pk", filter=~Q(state__in=TERMINAL_STATES)),
    "closed": Count("pk", filter=Q(state=State.CLOSED)),
    "on_time": Count("pk", filter=Q(state=State.CLOSED, ever_late=False)),
    "accepted": Count("pk", filter=Q(was_accepted=True)),
    "accepted_in_time": Count("pk", filter=Q(was_accepted=True, late_accept=False)),
    "resolved": Count("pk", filter=Q(was_resolved=True)),
    "resolved_in_time": Count("pk", filter=Q(was_resolved=True, late_resolve=False)),
    "fallback": Count("pk", filter=Q(went_to_pool=True)),
    "returned": Count("pk", filter=Q(was_returned=True)),
    "satisfaction_sum": Coalesce(Sum("satisfaction"), 0),
    "satisfaction_count": Count("satisfaction"),
}
KEY = ("day", "township_id", "lead_department_id", "cell_id")


@dataclass(frozen=True)
class Refresh:
    rebuilt: bool  # every day recomputed
    days: list[date]  # else the days recomputed
    rows: int  # roll-up rows written


def with_facts(cases: QuerySet[Case]) -> QuerySet[Case]:
    """Cases with the facts the rates need, from the audit trail and the escalations."""
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


def figures_of(cases: QuerySet[Case], zone: ZoneInfo) -> QuerySet:
    """The `DailyFigures` rows of `cases`, computed directly (one row per key)."""
    return (
        with_facts(cases.order_by())
        .annotate(day=TruncDate("created_at", tzinfo=zone))
        .values(*KEY)
        .annotate(**FIGURES)
        .values_list(*KEY, *FIGURES)
    )


def figures_refresh(*, everything: bool = False, now: datetime | None = None) -> Refresh:
    """Bring `DailyFigures` up to date with the cases: recompute the days of the cases
    changed or escalated since the last refresh, or every day (`everything`, the first
    time, or after TIME_ZONE changed). Safe to run at the same time from several
    processes: they take turns, and the later one finds less to do."""
    now = now or timezone.now()
    zone = ZoneInfo(settings.TIME_ZONE)
    with transaction.atomic():
        postgres = connection.vendor == "postgresql"
        if postgres:
            with connection.cursor() as cursor:
                # The lock first: the snapshot of pg_stat_activity must postdate it.
                cursor.execute(
                    "SELECT pg_advisory_xact_lock(%s), pg_stat_clear_snapshot()", [LOCK_KEY]
                )
        mark = FiguresMark.objects.filter(pk=1).first()
        since, escalations_after, seq, seq_at = _new_marks(mark, now=now, postgres=postgres)
        rebuild = everything or mark is None or mark.time_zone != settings.TIME_ZONE
        days, rows = [], 0
        if rebuild:
            DailyFigures.objects.all().delete()
            rows = _insert(Case.objects.all(), zone)
        else:
            days = _dirty_days(mark, zone)
            if days:
                DailyFigures.objects.filter(day__in=days).delete()
                rows = _insert(Case.objects.filter(_on_days(days, zone)), zone)
        FiguresMark.objects.update_or_create(
            pk=1,
            defaults={
                "cases_changed_since": since,
                "escalations_after": escalations_after,
                "escalation_seq": seq,
                "escalation_seq_at": seq_at,
                "time_zone": settings.TIME_ZONE,
                "refreshed_at": now,
            },
        )
    return Refresh(rebuilt=rebuild, days=sorted(days), rows=rows)


def _new_marks(mark: FiguresMark | None, *, now: datetime, postgres: bool):
    """The marks the next refresh starts from: (cases_changed_since, escalations_after,
    escalation_seq, escalation_seq_at). Read before this refresh looks at any case."""
    old_after = mark.escalations_after if mark else 0
    if not postgres:
        # One writer at a time: an uncommitted escalation's id is above every visible one.
        top = Escalation.objects.aggregate(top=Max("pk"))["top"] or 0
        return now - CLOCK_SLACK, max(old_after, top), top, now
    with connection.cursor() as cursor:
        # The sequence before the clock: a transaction starting after `seq_at` can only
        # take ids above `seq`.
        cursor.execute(
            "SELECT pg_sequence_last_value(pg_get_serial_sequence(%s, 'id')::regclass)",
            [Escalation._meta.db_table],
        )
        seq = cursor.fetchone()[0] or 0
        cursor.execute(
            """
            SELECT clock_timestamp(), (
                SELECT min(xact_start) FROM pg_stat_activity
                WHERE datname = current_database() AND pid <> pg_backend_pid()
                  AND backend_type = 'client backend' AND xact_start IS NOT NULL
            )
            """
        )
        seq_at, oldest_open = cursor.fetchone()
    if oldest_open is None:
        after = seq  # every id taken so far is committed or rolled back
    elif mark is not None and mark.escalation_seq_at and oldest_open > mark.escalation_seq_at:
        after = mark.escalation_seq  # the open transactions began after that value was read
    else:
        after = old_after
    since = min(now, seq_at, oldest_open or seq_at) - CLOCK_SLACK
    return since, max(old_after, after), seq, seq_at


def _dirty_days(mark: FiguresMark, zone: ZoneInfo) -> list[date]:
    def days_of(cases):
        return (
            cases.order_by()
            .annotate(day=TruncDate("created_at", tzinfo=zone))
            .values_list("day", flat=True)
        )

    changed = Case.objects.filter(updated_at__gte=mark.cases_changed_since)
    escalated = Case.objects.filter(
        pk__in=Escalation.objects.filter(pk__gt=mark.escalations_after).values("case_id")
    )
    return list(days_of(changed).union(days_of(escalated)))


def _on_days(days: list[date], zone: ZoneInfo) -> Q:
    """Cases reported on `days` (local days), as ranges of consecutive days on the
    indexed `created_at`."""
    ranges: list[list[date]] = []
    for day in sorted(days):
        if ranges and ranges[-1][1] + timedelta(days=1) == day:
            ranges[-1][1] = day
        else:
            ranges.append([day, day])
    return reduce(
        operator.or_,
        (
            Q(
                created_at__gte=datetime.combine(first, time.min, tzinfo=zone),
                created_at__lt=datetime.combine(last + timedelta(days=1), time.min, tzinfo=zone),
            )
            for first, last in ranges
        ),
    )


def _insert(cases: QuerySet[Case], zone: ZoneInfo) -> int:
    """INSERT … SELECT the figures of `cases`; returns the number of rows inserted."""
    select, params = figures_of(cases, zone).query.sql_with_params()
    table = connection.ops.quote_name(DailyFigures._meta.db_table)
    columns = ", ".join(
        connection.ops.quote_name(DailyFigures._meta.get_field(name).column)
        for name in (*KEY, *FIGURES)
    )
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} ({columns}) {select}", params)
        return cursor.rowcount
