"""The product side of the holiday section: a day off added at short notice (the next
working day), which moves every running clock across it (cases/services/calendar_changes.py:
within the admin's request when they are few, else after it in the worker), and the floor:
one hand-written UPDATE that writes the same rows' rungs and versions. Each in a
transaction rolled back, then the table vacuumed, so every run starts from the seeded rows.
Run through bench/probes.py, which sets Django up first.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

RUNGS = ("remind_at", "due_at", "escalate_2_at", "escalate_3_at")


class RolledBack(Exception):
    pass


def next_working_day():
    from departments.calendar import get_calendar

    calendar, day = get_calendar(), timezone.localdate() + timedelta(days=1)
    while not calendar.is_working_day(day):
        day += timedelta(days=1)
    return day


def _vacuum() -> None:
    from cases.models import Case

    with connection.cursor() as cursor:  # autocommit: VACUUM cannot run in a transaction
        cursor.execute(f"VACUUM ANALYZE {connection.ops.quote_name(Case._meta.db_table)}")


def holiday() -> dict:
    """Add a holiday on the next working day as the admin does (the model's save and its
    receivers), then, where the request left them to the worker, move the running clocks
    as the worker does, all rolled back (the worker's batches are savepoints here, not
    transactions of their own): the request's seconds, the move's seconds (the request's
    own where it moved them), and the cases whose deadlines moved."""
    from cases.services.calendar_changes import follow_calendar_change
    from departments.models import CalendarChange, Holiday

    day = next_working_day()
    try:
        with transaction.atomic():
            started = time.perf_counter()
            entry = Holiday.objects.create(date=day, kind=Holiday.Kind.HOLIDAY, name="bench")
            request = time.perf_counter() - started
            later = entry.deadlines_moving_later
            if later:
                change = CalendarChange.objects.latest("pk")
                started = time.perf_counter()
                moved = len(follow_calendar_change(change))
                seconds = time.perf_counter() - started
            else:
                moved, seconds = len(entry.cases_moved), request
            raise RolledBack
    except RolledBack:
        pass
    _vacuum()
    return {
        "request": request,
        "seconds": seconds,
        "later": later,
        "moved": moved,
        "day": day.isoformat(),
    }


def holiday_floor() -> dict:
    """One UPDATE that moves every rung ahead of the day of the running clocks a day
    later and their versions on, rolled back: the rows' own write, with no calendar."""
    from cases.models import CLOCK_STATES, Case

    day = next_working_day()
    day_starts = datetime.combine(day, datetime.min.time(), tzinfo=timezone.get_current_timezone())
    floor_at = max(day_starts, timezone.now())
    q = connection.ops.quote_name
    later = "CASE WHEN {0} >= %s THEN {0} + interval '1 day' ELSE {0} END"
    moved = ", ".join(f"{q(rung)} = {later.format(q(rung))}" for rung in RUNGS)
    sql = (
        f"UPDATE {q(Case._meta.db_table)} SET {moved}, version = version + 1 "
        f"WHERE state = ANY(%s) AND escalate_3_at >= %s"
    )
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            started = time.perf_counter()
            cursor.execute(sql, [*[floor_at] * len(RUNGS), list(CLOCK_STATES), floor_at])
            seconds, rows = time.perf_counter() - started, cursor.rowcount
            raise RolledBack
    except RolledBack:
        pass
    _vacuum()
    return {"seconds": seconds, "rows": rows}
