"""Keeping the supervision page's daily roll-up (`SupervisionFigures`) up to date,
set-based.

Audit rows are append-only, so a refresh adds the rows written since the last one: the
counts of the audit rows with an id in (`events_after`, the new mark] are aggregated per
roll-up key (`cases.selectors.supervision.counted_rows`), added to the rows that exist by one
`UPDATE … FROM` and inserted for the keys that do not by one `INSERT … SELECT`. A fixed
handful of statements, whatever the number of rows; the first refresh (no mark yet, or
another TIME_ZONE) counts every audit row the same way.

What a counted row's key depends on besides the audit row itself: the case's township,
which changes only when open cases follow their grid cell to another township
(`cases.services.cell_moves`, which moves their counts with `supervision_moving`); and, for
rows written before the audit trail recorded it, a reopened case's lead or a liaison's
department now (migration 0030 wrote them into those rows).

Who calls it: the supervision page before it reads (so today's figures hold this
morning's steps: the rows since the last refresh, cheap), the beat every minute with the
dashboard's roll-up (`cases.refresh_figures`) and `seed_demo`. The page does not wait for
another refresh (`wait=False`): the first one after an upgrade counts every audit row, for
longer than a page may take (some 48 s at 1,000,000 cases), and the page reads what the
roll-up has meanwhile, saying as of when (`cases.services.rollups.refreshed_as_of`).

Refreshes are serialised by a transaction-level advisory lock on PostgreSQL. A transaction
still open during a refresh may commit an audit row with an id below ids the refresh sees,
so `events_after` stays behind every open transaction, as `FiguresMark.escalations_after`
does (`cases.services.rollups.committed_id_mark`).
"""

from __future__ import annotations

import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from cases.models import CaseEvent, SupervisionFigures, SupervisionMark
from cases.models.supervision import SUPERVISION_FIELDS
from cases.selectors.supervision import counted_rows
from cases.services.rollups import REFRESH_SETTINGS, committed_id_mark, rollup_lock

LOCK_KEY = zlib.crc32(b"cases.supervision_refresh")

KEY = ("day", "township_id", "department_id", "given_day")


@dataclass(frozen=True)
class SupervisionRefresh:
    rebuilt: bool  # every audit row counted again
    rows: int  # roll-up rows added to or inserted
    now: datetime


def supervision_refresh(
    *, everything: bool = False, wait: bool = True
) -> SupervisionRefresh | None:
    """Count the audit rows written since the last refresh into `SupervisionFigures`, or
    every audit row (`everything`, the first time, after TIME_ZONE changed). Safe to run
    at the same time from several processes: they take turns, and the later one finds
    less to do. Without `wait`, returns None at once, having done nothing, when another
    refresh is under way."""
    with transaction.atomic():
        postgres = connection.vendor == "postgresql"
        if not _lock(wait=wait):
            return None
        now = timezone.now()
        mark = SupervisionMark.objects.filter(pk=1).first()
        rebuild = everything or mark is None or mark.time_zone != settings.TIME_ZONE
        if mark is not None:
            now = max(now, mark.refreshed_at)
        ids = committed_id_mark(
            CaseEvent,
            after=0 if rebuild else mark.events_after,
            seq=mark.event_seq if mark else 0,
            seq_at=mark.event_seq_at if mark else None,
            now=now,
            postgres=postgres,
        )
        if rebuild:
            SupervisionFigures.objects.all().delete()
            events = CaseEvent.objects.filter(pk__lte=ids.after)
        else:
            events = CaseEvent.objects.filter(pk__gt=mark.events_after, pk__lte=ids.after)
        counted = (
            _add(events, into_empty=rebuild) if rebuild or ids.after > mark.events_after else 0
        )
        values = {
            "events_after": ids.after,
            "event_seq": ids.seq,
            "event_seq_at": ids.seq_at,
            "time_zone": settings.TIME_ZONE,
            "refreshed_at": now,
        }
        if not SupervisionMark.objects.filter(pk=1).update(**values):
            SupervisionMark.objects.create(pk=1, **values)
    return SupervisionRefresh(rebuilt=rebuild, rows=counted, now=now)


@contextmanager
def supervision_moving(case_ids: list[int]):
    """Around a change of the cases' township: their counted audit rows leave the roll-up's
    rows of the township they were counted in before it, and join those of the new one
    after. Inside the caller's transaction, holding the refresh's lock until it commits;
    without the refresh's settings, which would make the caller's real change commit
    without waiting for the disk."""
    with transaction.atomic():
        rollup_lock(LOCK_KEY)
        mark = SupervisionMark.objects.filter(pk=1).first()
        if mark is None or mark.time_zone != settings.TIME_ZONE:
            yield  # the next refresh counts every audit row
            return
        counted = CaseEvent.objects.filter(case_id__in=case_ids, pk__lte=mark.events_after)
        _add(counted, sign=-1)
        yield
        _add(counted)


def _lock(*, wait: bool = True) -> bool:
    return rollup_lock(LOCK_KEY, wait=wait, config=REFRESH_SETTINGS)


# `counted_rows`' names of the key and counted columns, in the order of KEY and
# SUPERVISION_FIELDS.
_COUNTED_KEY = ("row_day", "row_township", "row_department", "row_given_day")
_COUNTED = tuple(f"row_{name}" for name in SUPERVISION_FIELDS)


def _add(events, *, sign: int = 1, into_empty: bool = False) -> int:
    """Add `sign` times the counts of `events` to the roll-up: one UPDATE of the rows
    whose key exists (none `into_empty`), one INSERT of the others (none when subtracting:
    they exist). Returns the number of keys counted."""
    select, params = counted_rows(events).query.sql_with_params()
    quote = connection.ops.quote_name
    table = quote(SupervisionFigures._meta.db_table)
    column = {
        name: quote(SupervisionFigures._meta.get_field(name).column)
        for name in (*KEY, *SUPERVISION_FIELDS)
    }
    # Equalities the key's index serves (IS NOT DISTINCT FROM would scan the table).
    match = " AND ".join(
        f"{table}.{column[key]} = d.{quote(counted)}"
        for key, counted in zip(KEY[:3], _COUNTED_KEY[:3], strict=True)
    )
    given_day, counted_given_day = column["given_day"], quote(_COUNTED_KEY[3])
    match += (
        f" AND ({table}.{given_day} = d.{counted_given_day}"
        f" OR ({table}.{given_day} IS NULL AND d.{counted_given_day} IS NULL))"
    )
    sets = ", ".join(
        f"{column[name]} = {table}.{column[name]} + %s * d.{quote(counted)}"
        for name, counted in zip(SUPERVISION_FIELDS, _COUNTED, strict=True)
    )
    keys = 0
    with connection.cursor() as cursor:
        if not into_empty:
            cursor.execute(
                f"UPDATE {table} SET {sets} FROM ({select}) d WHERE {match}",
                [sign] * len(SUPERVISION_FIELDS) + list(params),
            )
            keys = cursor.rowcount
        if sign > 0:
            names = ", ".join(column[name] for name in (*KEY, *SUPERVISION_FIELDS))
            picked = ", ".join(f"d.{quote(name)}" for name in (*_COUNTED_KEY, *_COUNTED))
            cursor.execute(
                f"INSERT INTO {table} ({names}) SELECT {picked} FROM ({select}) d"
                f" WHERE NOT EXISTS (SELECT 1 FROM {table} WHERE {match})",
                list(params),
            )
            keys += cursor.rowcount
    return keys
