"""Cache invalidation: any change to what the router or the calendar read moves the stamp,
in the same transaction, so every process reloads its index (departments/routing.py).
And `cells_moved` and `holidays_changed`, for the cases app: `departments` knows nothing of
cases; a change of the calendar is a holiday entry, or a year the calendar library learnt
(after `migrate`). And a user's email language, from the page they sign in on."""

import logging

from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.db import connection, transaction
from django.db.models.signals import post_delete, post_migrate, post_save, pre_save
from django.dispatch import Signal, receiver

from departments.calendar import (
    library_days_off_the_week,
    library_years,
    recorded_library_years,
)
from departments.models import (
    CalendarChange,
    CalendarLibraryYear,
    Category,
    GridCell,
    Holiday,
    Responsibility,
    RoutingStamp,
)

logger = logging.getLogger(__name__)


@receiver(user_logged_in)
def remember_the_language_signed_in_with(sender, request, user, **kwargs):
    """Only a language the browser asked for (its languages, or the site's switch): a
    client that names none got LANGUAGE_CODE's, which says nothing of its user."""
    asked = request is not None and (
        request.META.get("HTTP_ACCEPT_LANGUAGE")
        or request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
    )
    if asked and getattr(request, "LANGUAGE_CODE", None):
        user.remember_language(request.LANGUAGE_CODE)


@receiver([post_save, post_delete], sender=GridCell)
@receiver([post_save, post_delete], sender=Category)
@receiver([post_save, post_delete], sender=Responsibility)
@receiver([post_save, post_delete], sender=Holiday)
def move_routing_stamp(**kwargs):
    RoutingStamp.bump()


# Sent with `moves` ({cell id: new township id}) inside the transaction that gave grid cells
# to another township: by the grid import (bulk writes send no model signals) and below,
# for a cell saved one at a time (the admin).
cells_moved = Signal()


@receiver(pre_save, sender=GridCell)
def remember_the_township(sender, instance, raw=False, **kwargs):
    if raw or instance.pk is None:
        return
    instance.township_before = (
        GridCell.objects.filter(pk=instance.pk).values_list("township_id", flat=True).first()
    )


@receiver(post_save, sender=GridCell)
def tell_of_a_move(sender, instance, created, raw=False, **kwargs):
    """Leaves on the cell how many cases its receivers moved (`cases_moved`), for the admin."""
    before = getattr(instance, "township_before", None)
    instance.cases_moved = 0
    if raw or created or before in (None, instance.township_id):
        return
    answers = cells_moved.send(sender=GridCell, moves={instance.pk: instance.township_id})
    instance.cases_moved = sum(moved or 0 for _receiver, moved in answers)


# Sent with `change` (a CalendarChange: each changed day's entry kind before it, None for
# no entry) inside the transaction that changed the holiday entries of those days: below,
# for an entry saved or deleted on its own, and by `holidays_enter` and `holidays_remove`
# (departments/holidays.py) once for a whole run of days or a selection. The cases app
# moves the running deadlines across them (once for all the days) and answers with the
# cases it moved: (ids, the first of their numbers, whether it left the move to the
# background, where it has too many to move within a request).
holidays_changed = Signal()

# Changes of the calendar take this lock (PostgreSQL, until their transaction ends) before
# numbering themselves, so that they commit in the order of their numbers: a calendar read
# with the last change numbered N then includes every change before N.
CALENDAR_LOCK_KEY = 0x63616C65  # "cale"


def _lock_the_calendar() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CALENDAR_LOCK_KEY])


def record_calendar_change(
    kinds_before: dict, source=CalendarChange.Source.ENTRIES
) -> CalendarChange:
    _lock_the_calendar()
    return CalendarChange.objects.create(
        source=source,
        first_day=min(kinds_before),
        kinds_before={day.isoformat(): kind for day, kind in kinds_before.items()},
    )


def tell_holidays_changed(
    kinds_before: dict, source=CalendarChange.Source.ENTRIES
) -> tuple[set[int], list[str], bool]:
    """The cases whose deadlines the change of these days moved, a few of their numbers
    for the administrator to look at, and whether more are moving in the background."""
    if not kinds_before:
        return set(), [], False
    change = record_calendar_change(kinds_before, source)
    moved, numbers, later = set(), [], False
    for _receiver, answer in holidays_changed.send(sender=Holiday, change=change):
        if answer:
            moved |= answer[0]
            numbers.extend(answer[1])
            later = later or answer[2]
    return moved, sorted(numbers), later


def follow_the_years_the_library_learnt() -> tuple[list[int], set[int], bool]:
    """The years the calendar library knows that the running deadlines have not followed
    yet (a new release, each November or so, learns the next year's holidays): until now
    their days were counted by the week, as for a year nobody knows. The days the library
    counts otherwise, except those an administrator entered, are one calendar change, as if
    the year had been entered in the admin, and the deadlines across them move now or in
    the worker. Years are only ever added: a process still on an older release (in a
    rolling deploy) records nothing. Returns the years learnt, the cases moved and whether
    more are moving in the background."""
    with transaction.atomic():
        _lock_the_calendar()
        followed = recorded_library_years()
        if not followed:
            # A database with no record (flushed): the deadlines were counted on every year
            # the library knows, or there are none.
            CalendarLibraryYear.objects.bulk_create(
                CalendarLibraryYear(year=year) for year in library_years()
            )
            return [], set(), False
        learnt = sorted(library_years() - followed)
        if not learnt:
            return [], set(), False
        CalendarLibraryYear.objects.bulk_create(CalendarLibraryYear(year=year) for year in learnt)
        RoutingStamp.bump()  # every process counts the years by the library from now on
        entered = set(Holiday.objects.filter(date__year__in=learnt).values_list("date", flat=True))
        kinds_before = {
            day: Holiday.Kind.WORKDAY if day.weekday() < 5 else Holiday.Kind.HOLIDAY
            for day in library_days_off_the_week(learnt)
            if day not in entered
        }
        moved, _numbers, later = tell_holidays_changed(kinds_before, CalendarChange.Source.LIBRARY)
    return learnt, moved, later


@receiver(post_migrate)
def follow_the_calendar_library(sender, **kwargs):
    # After every `migrate`, as a deploy runs it: the first on a release that learnt a year.
    if sender.name != "departments":
        return
    if CalendarLibraryYear._meta.db_table not in connection.introspection.table_names():
        return  # migrated back before the table
    learnt, moved, later = follow_the_years_the_library_learnt()
    if learnt:
        logger.warning(
            "The calendar library now knows %s: the running deadlines across its holidays "
            "and make-up days %s.",
            ", ".join(map(str, learnt)),
            "are moving in the worker" if later else f"moved: {len(moved)} case(s)",
        )


def _leave_moved(entry: Holiday, kinds_before: dict) -> None:
    # On the entry, for the admin to tell (departments/admin/calendar.py).
    entry.cases_moved, entry.case_numbers_moved, entry.deadlines_moving_later = (
        tell_holidays_changed(kinds_before)
    )


@receiver(pre_save, sender=Holiday)
def remember_the_entry(sender, instance, raw=False, **kwargs):
    if raw or instance.pk is None:
        return
    stored = Holiday.objects.filter(pk=instance.pk).values_list("date", "kind")
    instance.entry_before = stored.first()


@receiver(post_save, sender=Holiday)
def holiday_saved(sender, instance, created, raw=False, **kwargs):
    if raw:
        return
    before = None if created else getattr(instance, "entry_before", None)
    kinds_before = {}
    if before != (instance.date, instance.kind):  # not a new name only, the same day off or on
        kinds_before[instance.date] = None  # the day had no entry, or the one below
        if before is not None:
            kinds_before[before[0]] = before[1]
    _leave_moved(instance, kinds_before)


@receiver(post_delete, sender=Holiday)
def holiday_deleted(sender, instance, **kwargs):
    _leave_moved(instance, {instance.date: instance.kind})
