"""Deadlines follow the working calendar: a holiday or make-up day an administrator adds,
changes or removes (departments.Holiday) moves the rungs of the clocks running across it,
and the report-for-duty deadlines of the whistles not yet answered, in the same
transaction (cases/services/deadlines.py). `departments` knows nothing of cases, so the
cases app listens, and leaves the cases it moved on the entry (`cases_moved`) for the
admin to tell. The open cases of a grid cell given to another township move with it
(cases/services/cell_moves.py)."""

from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver

from cases.models import Case
from cases.services.cell_moves import open_cases_follow_cells
from cases.services.deadlines import clocks_follow_calendar
from departments.calendar import WorkingCalendar
from departments.models import MOVED_CASES_NAMED, Holiday
from departments.signals import cells_moved


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
    if before == (instance.date, instance.kind):
        _leave_moved(instance, set())
        return  # a new name, the same day off or on
    kinds_before = {instance.date: None}  # the day had no entry, or the one below
    if before is not None:
        kinds_before[before[0]] = before[1]
    _leave_moved(instance, _follow(kinds_before))


@receiver(post_delete, sender=Holiday)
def holiday_deleted(sender, instance, **kwargs):
    _leave_moved(instance, _follow({instance.date: instance.kind}))


def _leave_moved(instance: Holiday, moved: set[int]) -> None:
    """The cases moved, on the entry, and the first numbers of them, so that the admin
    (which knows no cases) can name a few for the administrator to look at."""
    instance.cases_moved = moved
    # Among the first ids only (numbers follow them within a year): all of them, as many
    # as a holiday moves, would pass SQLite's limit of variables in one query.
    first = sorted(moved)[:MOVED_CASES_NAMED]
    numbers = Case.objects.filter(pk__in=first).order_by("number").values_list("number", flat=True)
    instance.case_numbers_moved = list(numbers) if moved else []


def _follow(kinds_before: dict) -> set[int]:
    """`kinds_before`: each changed day's entry kind before the change, None for none."""
    new = WorkingCalendar.load()
    overrides = dict(new.overrides)
    for day, kind in kinds_before.items():
        if kind is None:
            overrides.pop(day, None)
        else:
            overrides[day] = kind == Holiday.Kind.WORKDAY
    old = WorkingCalendar(
        overrides=overrides,
        admin_years=frozenset(day.year for day in overrides),
        periods=new.periods,
        tz=new.tz,
    )
    return clocks_follow_calendar(old=old, new=new, changed=min(kinds_before))


@receiver(cells_moved)
def open_cases_follow_their_cells(sender, moves, **kwargs) -> int:
    return open_cases_follow_cells(moves)
