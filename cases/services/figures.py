"""Keeping the dashboard's daily roll-up (`DailyFigures`) up to date, set-based.

`figures_refresh` recomputes whole days of a township: the local days of reporting, in
their township, of the cases saved since the last refresh (every save of a case moves its
`updated_at`: `Case.save`) and of the cases escalated since (the sweep writes `Escalation`
rows without saving the case). Those days' rows are deleted and inserted again with one
`INSERT … SELECT … GROUP BY` over the cases reported on them, joined to their audit rows
and escalations aggregated per case, so a case that moved from one department or cell to
another leaves its old row and joins its new one. `overdue` also moves with the clock
alone: the cases whose deadline passed since the last refresh are added to their rows by
one `UPDATE … FROM`. A fixed handful of statements, whatever the number of cases or days.

Who calls it: `dashboard_data` before it reads (figures are exact right after a workflow
step, and cheap when little changed), the beat every minute (`cases.refresh_figures`, so
that page loads find little left to do) and `seed_demo`. A database without a mark yet
(new, or just upgraded) gets every day rolled up by its first refresh. The page does not
wait for another refresh (`wait=False`): the first one after an upgrade takes some 15 s
at 1,000,000 cases, behind which a page load could pass the web server's timeout; the
page reads what the roll-up has meanwhile, saying as of when.

Refreshes are serialised by a transaction-level advisory lock on PostgreSQL (SQLite has
one writer at a time anyway). A transaction still open during a refresh may commit later
with an `updated_at` or an escalation id below what the refresh has seen, so the marks
stay behind every open transaction: `cases_changed_since` at the oldest open
transaction's start (less CLOCK_SLACK, for a `now` taken just before a transaction's first
statement and for clocks of other machines), `escalations_after` at an id sequence value
read before every open transaction began (or the current one when none is open); the
cases a refresh saw at or after its new `cases_changed_since` are remembered with their
`version`, so that the next refresh skips those it already counted. Open
transactions are those of pg_stat_activity, which shows the database role its own
sessions: the web, worker and beat processes must share one role, as they do.
"""

from __future__ import annotations

import operator
import zlib
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import reduce
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from cases.models import (
    CLOCK_STATES,
    TERMINAL_STATES,
    Case,
    CaseEvent,
    DailyFigures,
    DeadlineKind,
    Escalation,
    EscalationLevel,
    FiguresMark,
    State,
)
from cases.models.figures import COUNTED_FIELDS
from cases.services.rollups import REFRESH_SETTINGS, committed_id_mark, rollup_lock

# How far before a refresh's own clock a change can carry an `updated_at` yet commit after.
CLOCK_SLACK = timedelta(seconds=10)
LOCK_KEY = zlib.crc32(b"cases.figures_refresh")

KEY = ("day", "township_id", "lead_department_id", "cell_id")

# The definitions of cases/selectors/dashboard.py, per case `c`: its audit trail says whether it was
# accepted, resolved, routed to a fallback pool, returned (`ev`); its escalations (level 1
# and up: reminders are not) whether it was ever escalated, and on which deadline (`es`).
# A return with no actor is the system's, after a correction: not a department's dispute.
# Each is aggregated per case once, for the cases of the days being recomputed only
# ({cases} is their WHERE clause).
FIGURES_SQL = """
SELECT c.day, c.township_id, c.lead_department_id, c.cell_id,
    COUNT(*),
    SUM(CASE WHEN c.state IN ({terminal}) THEN 0 ELSE 1 END),
    SUM(CASE WHEN c.state IN ({clock}) AND c.due_at <= %s THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.state = %s THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.state = %s AND es.case_id IS NULL THEN 1 ELSE 0 END),
    SUM(CASE WHEN ev.accepted = 1 OR es.late_accept = 1 THEN 1 ELSE 0 END),
    SUM(CASE WHEN ev.accepted = 1 AND COALESCE(es.late_accept, 0) = 0 THEN 1 ELSE 0 END),
    SUM(CASE WHEN ev.resolved = 1 OR es.late_resolve = 1 THEN 1 ELSE 0 END),
    SUM(CASE WHEN ev.resolved = 1 AND COALESCE(es.late_resolve, 0) = 0 THEN 1 ELSE 0 END),
    SUM(COALESCE(ev.to_pool, 0)),
    SUM(COALESCE(ev.returned, 0)),
    COALESCE(SUM(c.satisfaction), 0),
    COUNT(c.satisfaction)
FROM (
    SELECT id, {day} AS day, township_id, lead_department_id, cell_id, state, due_at,
        satisfaction
    FROM {case} WHERE {cases}
) c
LEFT JOIN (
    SELECT case_id,
        MAX(CASE WHEN action = 'accept' THEN 1 ELSE 0 END) AS accepted,
        MAX(CASE WHEN action = 'resolve' THEN 1 ELSE 0 END) AS resolved,
        -- Routed to a pool: on report, or again by a correction (its return has no actor).
        MAX(CASE WHEN to_state = %s AND (action = 'route' OR (action = 'return'
            AND actor_id IS NULL)) THEN 1 ELSE 0 END) AS to_pool,
        MAX(CASE WHEN action = 'return' AND actor_id IS NOT NULL THEN 1 ELSE 0 END) AS returned
    FROM {event}
    WHERE action IN ('accept', 'resolve', 'route', 'return')
      AND case_id IN (SELECT id FROM {case} WHERE {cases})
    GROUP BY case_id
) ev ON ev.case_id = c.id
LEFT JOIN (
    SELECT case_id,
        MAX(CASE WHEN deadline_kind = %s THEN 1 ELSE 0 END) AS late_accept,
        MAX(CASE WHEN deadline_kind = %s THEN 1 ELSE 0 END) AS late_resolve
    FROM {escalation}
    WHERE level > %s AND case_id IN (SELECT id FROM {case} WHERE {cases})
    GROUP BY case_id
) es ON es.case_id = c.id
GROUP BY c.day, c.township_id, c.lead_department_id, c.cell_id
ORDER BY c.day
"""  # in day order: a period's rows then lie together on disk

# The cases whose deadline passed in (%s, %s] and whose day is not recomputed: one more
# overdue case each in their row (a case is overdue at its deadline, as the sweep says).
OVERDUE_SQL = """
UPDATE {figures} SET overdue = overdue + d.n
FROM (
    SELECT {day} AS day, township_id, lead_department_id, cell_id, COUNT(*) AS n
    FROM {case}
    WHERE state IN ({clock}) AND due_at > %s AND due_at <= %s
    GROUP BY 1, 2, 3, 4
) d
WHERE {figures}.day = d.day AND {figures}.township_id = d.township_id
  AND {figures}.lead_department_id {same} d.lead_department_id
  AND {figures}.cell_id {same} d.cell_id
"""


@dataclass(frozen=True)
class Refresh:
    rebuilt: bool  # every day recomputed
    days: list[date]  # else the days recomputed
    rows: int  # roll-up rows written
    now: datetime  # `overdue` is as of this moment


def figures_refresh(*, everything: bool = False, wait: bool = True) -> Refresh | None:
    """Bring `DailyFigures` up to date with the cases: recompute the days of the cases
    changed or escalated since the last refresh, or every day (`everything`, the first
    time, after TIME_ZONE changed), and count as overdue the cases whose deadline passed
    since. Safe to run at the same time from several processes: they take turns, and the
    later one finds less to do. Without `wait`, returns None at once, having done nothing,
    when another refresh is under way."""
    zone = ZoneInfo(settings.TIME_ZONE)
    with transaction.atomic():
        postgres = connection.vendor == "postgresql"
        if not rollup_lock(LOCK_KEY, wait=wait, config=REFRESH_SETTINGS):
            return None
        now = timezone.now()  # after the lock: not before the previous refresh's
        mark = FiguresMark.objects.filter(pk=1).first()
        rebuild = everything or mark is None or mark.time_zone != settings.TIME_ZONE
        if mark is not None:
            # Never back: a refresh that waited for the lock, another machine's clock.
            now = max(now, mark.refreshed_at)
        since, escalations_after, seq, seq_at = _new_marks(mark, now=now, postgres=postgres)
        groups, rows = set(), 0
        changed, seen = _changed_since(mark.cases_changed_since if mark else since, since, zone)
        if rebuild:
            DailyFigures.objects.all().delete()
            rows = _insert(None, zone, now=now)
        else:
            rows = _count_overdue(mark.refreshed_at, now, zone)
            groups = _dirty_groups(mark, changed, zone)
            if groups:
                rows += _count_again(groups, zone, now=now)
        values = {
            "cases_changed_since": since,
            "escalations_after": escalations_after,
            "escalation_seq": seq,
            "escalation_seq_at": seq_at,
            "time_zone": settings.TIME_ZONE,
            "refreshed_at": now,
            "seen_versions": seen,
        }
        if not FiguresMark.objects.filter(pk=1).update(**values):
            FiguresMark.objects.create(pk=1, **values)
    return Refresh(rebuilt=rebuild, days=sorted({day for day, _t in groups}), rows=rows, now=now)


def _new_marks(mark: FiguresMark | None, *, now: datetime, postgres: bool):
    """The marks the next refresh starts from: (cases_changed_since, escalations_after,
    escalation_seq, escalation_seq_at). Read before this refresh looks at any case."""
    ids = committed_id_mark(
        Escalation,
        after=mark.escalations_after if mark else 0,
        seq=mark.escalation_seq if mark else 0,
        seq_at=mark.escalation_seq_at if mark else None,
        now=now,
        postgres=postgres,
    )
    if not postgres:
        return now - CLOCK_SLACK, ids.after, ids.seq, ids.seq_at
    since = min(now, ids.seq_at, ids.oldest_open or ids.seq_at) - CLOCK_SLACK
    return since, ids.after, ids.seq, ids.seq_at


def _changed_since(since: datetime, new_since: datetime, zone: ZoneInfo):
    """The cases saved at or after `since`: [(id, version, (day, township))], and the
    {id: version} of those at or after `new_since`, which the next refresh will see again."""
    day, params = _day_sql("created_at", zone)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, version, {day}, township_id, updated_at >= %s FROM {_table(Case)}"
            " WHERE updated_at >= %s",
            [*params, _when(new_since), _when(since)],
        )
        rows = cursor.fetchall()
    changed = [(pk, version, (_as_date(day), township)) for pk, version, day, township, _ in rows]
    return changed, {str(pk): version for pk, version, _d, _t, again in rows if again}


def _dirty_groups(mark: FiguresMark, changed: list, zone: ZoneInfo) -> set[tuple[date, int]]:
    """The (day, township) of the cases changed since the last refresh counted them, and
    of the cases escalated since. (A case changes township only with its grid cell, and
    `figures_recount` then counts the days it left.)"""
    seen = mark.seen_versions
    groups = {group for pk, version, group in changed if seen.get(str(pk)) != version}
    day, params = _day_sql("created_at", zone)
    case, escalation = _table(Case), _table(Escalation)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT DISTINCT {day}, township_id FROM {case} WHERE id IN "
            f"(SELECT case_id FROM {escalation} WHERE id > %s)",
            [*params, mark.escalations_after],
        )
        groups.update((_as_date(day), township) for day, township in cursor.fetchall())
    return groups


def figures_recount(groups: set[tuple[date, int]]) -> int:
    """Count the (day, township) rows of `groups` again, as of the last refresh: for cases
    that left them, which the next refresh would not see (it counts a changed case's days in
    its township now: cases moved with their grid cell). The next refresh brings them up to
    date like every other row. Nothing to do before a first refresh."""
    if not groups:
        return 0
    with transaction.atomic():
        rollup_lock(LOCK_KEY)
        mark = FiguresMark.objects.filter(pk=1).first()
        if mark is None or mark.time_zone != settings.TIME_ZONE:
            return 0  # the next refresh counts every day
        return _count_again(groups, ZoneInfo(settings.TIME_ZONE), now=mark.refreshed_at)


def _count_again(groups: set[tuple[date, int]], zone: ZoneInfo, *, now: datetime) -> int:
    by_township = _by_township(groups)
    DailyFigures.objects.filter(
        reduce(operator.or_, (Q(township_id=t, day__in=days) for t, days in by_township.items()))
    ).delete()
    return _insert(by_township, zone, now=now)


def _by_township(groups: set[tuple[date, int]]) -> dict[int, list[date]]:
    by_township = defaultdict(list)
    for day, township in groups:
        by_township[township].append(day)
    return dict(by_township)


def _insert(days: dict[int, list[date]] | None, zone: ZoneInfo, *, now: datetime) -> int:
    """INSERT … SELECT the figures of the cases reported on `days` ({township: [day]}; None:
    every day of every township); returns the number of rows inserted."""
    if days is None:
        cases, cases_params = "1 = 1", []
    else:
        terms, cases_params = [], []
        for township, township_days in days.items():
            ranges = _ranges(township_days)
            spans = " OR ".join(["(created_at >= %s AND created_at < %s)"] * len(ranges))
            terms.append(f"(township_id = %s AND ({spans}))")
            cases_params.append(township)
            cases_params += [
                _when(datetime.combine(moment, time.min, tzinfo=zone))
                for first, last in ranges
                for moment in (first, last + timedelta(days=1))
            ]
        cases = " OR ".join(terms)
    day, day_params = _day_sql("created_at", zone)
    select = FIGURES_SQL.format(
        day=day,
        cases=cases,
        terminal=", ".join(["%s"] * len(TERMINAL_STATES)),
        clock=", ".join(["%s"] * len(CLOCK_STATES)),
        case=_table(Case),
        event=_table(CaseEvent),
        escalation=_table(Escalation),
    )
    params = [
        *TERMINAL_STATES,
        *CLOCK_STATES,
        _when(now),
        State.CLOSED,
        State.CLOSED,
        *day_params,
        *cases_params,
        State.FALLBACK,
        *cases_params,
        DeadlineKind.ACCEPT,
        DeadlineKind.RESOLVE,
        EscalationLevel.REMINDER,  # a due-soon reminder is no escalation: nothing was late
        *cases_params,
    ]
    columns = ", ".join(
        connection.ops.quote_name(DailyFigures._meta.get_field(name).column)
        for name in (*KEY, *COUNTED_FIELDS)
    )
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {_table(DailyFigures)} ({columns}) {select}", params)
        return cursor.rowcount


def _count_overdue(since: datetime, until: datetime, zone: ZoneInfo) -> int:
    """Add the cases whose deadline passed in (since, until] to their rows' `overdue`;
    returns the number of rows changed."""
    day, day_params = _day_sql("created_at", zone)
    sql = OVERDUE_SQL.format(
        figures=_table(DailyFigures),
        case=_table(Case),
        day=day,
        clock=", ".join(["%s"] * len(CLOCK_STATES)),
        same="IS NOT DISTINCT FROM" if connection.vendor == "postgresql" else "IS",
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*day_params, *CLOCK_STATES, _when(since), _when(until)])
        return cursor.rowcount


def _ranges(days: list[date]) -> list[tuple[date, date]]:
    """Consecutive days as (first, last) ranges, for range conditions on `created_at`."""
    ranges: list[list[date]] = []
    for day in sorted(days):
        if ranges and ranges[-1][1] + timedelta(days=1) == day:
            ranges[-1][1] = day
        else:
            ranges.append([day, day])
    return [(first, last) for first, last in ranges]


def _day_sql(column: str, zone: ZoneInfo) -> tuple[str, list]:
    sql, params = connection.ops.datetime_cast_date_sql(column, (), str(zone))
    return sql, list(params)


def _when(moment: datetime):
    return connection.ops.adapt_datetimefield_value(moment)


def _as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)
