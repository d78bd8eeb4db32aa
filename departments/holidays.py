"""Changing several holiday or make-up working day entries at once: entering a run of days
(the Spring Festival is eight or nine), or deleting a selection. One transaction, and the
running deadlines moved once for all the days (not once a day: at a million cases each
move takes seconds)."""

from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db import connection, transaction
from django.db.models import QuerySet

from departments.models import Holiday, RoutingStamp
from departments.signals import tell_holidays_changed

# A longer run is a slip of the year or the month, not a holiday.
MAX_RUN_DAYS = 62


@dataclass
class HolidaysChanged:
    added: list[date] = field(default_factory=list)
    changed: list[date] = field(default_factory=list)  # days whose entry took a new kind or name
    removed: list[date] = field(default_factory=list)
    # As on a single entry (departments/signals.py), for the admin to tell.
    cases_moved: set[int] = field(default_factory=set)
    case_numbers_moved: list[str] = field(default_factory=list)
    deadlines_moving_later: bool = False


def holidays_enter(*, first: date, last: date, kind: str, name: str) -> HolidaysChanged:
    """Give every day from `first` to `last` (both included) an entry of `kind` and `name`:
    a day without one gets one, a day with one takes the new kind and name. All in one
    transaction, with the running deadlines moved once across every day whose kind changed."""
    if last < first or (last - first).days >= MAX_RUN_DAYS:
        raise ValueError(f"A run of days must be from 1 to {MAX_RUN_DAYS} days long.")
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    entered = HolidaysChanged()
    with transaction.atomic():
        stored = {
            entry.date: entry
            for entry in Holiday.objects.select_for_update().filter(date__range=(first, last))
        }
        kinds_before, new, changed = {}, [], []
        for day in days:
            entry = stored.get(day)
            if entry is None:
                new.append(Holiday(date=day, kind=kind, name=name))
                kinds_before[day] = None
            elif (entry.kind, entry.name) != (kind, name):
                if entry.kind != kind:
                    kinds_before[day] = entry.kind
                entry.kind, entry.name = kind, name
                changed.append(entry)
        # Bulk writes send no model signals: the stamp and the deadlines are told here.
        Holiday.objects.bulk_create(new)
        Holiday.objects.bulk_update(changed, ["kind", "name"])
        if new or changed:
            RoutingStamp.bump()
        (
            entered.cases_moved,
            entered.case_numbers_moved,
            entered.deadlines_moving_later,
        ) = tell_holidays_changed(kinds_before)
    entered.added = [entry.date for entry in new]
    entered.changed = [entry.date for entry in changed]
    return entered


def holidays_remove(entries: QuerySet[Holiday]) -> HolidaysChanged:
    """Delete `entries` (the admin's "delete selected"), with the running deadlines moved
    once from the calendar with them all to the calendar without them."""
    removed = HolidaysChanged()
    with transaction.atomic():
        rows = list(entries.select_for_update().values_list("pk", "date", "kind"))
        if not rows:
            return removed
        # One DELETE, which sends no model signals (per entry, each listener would measure
        # the deadlines on a calendar that never was): the stamp and the deadlines are told
        # here, of every day at once.
        ops = connection.ops
        table, pk = ops.quote_name(Holiday._meta.db_table), ops.quote_name(Holiday._meta.pk.column)
        with connection.cursor() as cursor:
            named = ", ".join(["%s"] * len(rows))
            cursor.execute(f"DELETE FROM {table} WHERE {pk} IN ({named})", [row[0] for row in rows])
        kinds_before = {day: kind for _pk, day, kind in rows}
        RoutingStamp.bump()
        (
            removed.cases_moved,
            removed.case_numbers_moved,
            removed.deadlines_moving_later,
        ) = tell_holidays_changed(kinds_before)
    removed.removed = sorted(kinds_before)
    return removed
