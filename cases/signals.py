"""Deadlines follow the working calendar: a holiday or make-up day an administrator adds,
changes or removes (departments.Holiday) moves the rungs of the clocks running across it,
and the report-for-duty deadlines of the whistles not yet answered
(cases/services/calendar_changes.py). `departments` knows nothing of cases, so it records
the change and says so (`holidays_changed`, once for a run of days entered together), and
the cases app answers with the cases it moved, for the admin to tell, or leaves the move to
the worker after the commit when it is too large for a request. The open cases of a grid
cell given to another township move with it (cases/services/cell_moves.py)."""

from django.db import transaction
from django.dispatch import receiver

from cases.services.calendar_changes import calendar_changed
from cases.services.cell_moves import open_cases_follow_cells
from cases.services.outbox.publishing import queue_or_log
from cases.tasks import follow_calendar_changes
from departments.models import CalendarChange
from departments.signals import cells_moved, holidays_changed


@receiver(holidays_changed)
def clocks_follow_holidays(
    sender, change: CalendarChange, **kwargs
) -> tuple[set[int], list[str], bool]:
    """The one move of the running deadlines for a change of holiday entries, however many
    days it changed (departments/signals.py): now, or by the worker after the commit."""
    moved, numbers, later = calendar_changed(change)
    if later:
        transaction.on_commit(
            lambda: queue_or_log(
                follow_calendar_changes,
                unqueued="Could not queue the move of the running deadlines with the "
                "calendar; the next escalation sweep moves them.",
            )
        )
    return moved, numbers, later


@receiver(cells_moved)
def open_cases_follow_their_cells(sender, moves, **kwargs) -> int:
    return open_cases_follow_cells(moves)
