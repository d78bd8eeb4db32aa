"""Deadlines follow the working calendar: a holiday or make-up day an administrator adds,
changes or removes (departments.Holiday) moves the rungs of the clocks running across it,
and the report-for-duty deadlines of the whistles not yet answered, in the same
transaction (cases/services/deadlines.py). `departments` knows nothing of cases, so it
says which days changed (`holidays_changed`, once for a run of days entered together), and
the cases app answers with the cases it moved, for the admin to tell. The open cases of a
grid cell given to another township move with it (cases/services/cell_moves.py)."""

from django.dispatch import receiver

from cases.models import Case
from cases.services.cell_moves import open_cases_follow_cells
from cases.services.deadlines import clocks_follow_calendar
from departments.calendar import WorkingCalendar
from departments.models import MOVED_CASES_NAMED, Holiday
from departments.signals import cells_moved, holidays_changed


@receiver(holidays_changed)
def clocks_follow_holidays(sender, kinds_before: dict, **kwargs) -> tuple[set[int], list[str]]:
    """The one move of the running deadlines for a change of holiday entries, however many
    days it changed (departments/signals.py)."""
    moved = _follow(kinds_before)
    # Among the first ids only (numbers follow them within a year): all of them, as many
    # as a holiday moves, would pass SQLite's limit of variables in one query.
    first = sorted(moved)[:MOVED_CASES_NAMED]
    numbers = Case.objects.filter(pk__in=first).order_by("number").values_list("number", flat=True)
    return moved, list(numbers) if moved else []


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
