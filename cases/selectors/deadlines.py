"""A deadline as the pages say it: the working time left until it."""

from datetime import datetime

from django.utils import timezone

from cases.models import CLOCK_STATES, Case
from departments.calendar import get_calendar


def working_seconds_left(case: Case, *, now: datetime | None = None, calendar=None) -> float | None:
    """Working time until the running deadline, in seconds (negative past it; 0 at it, when
    the case is already overdue: `Case.is_overdue`), on the official calendar (`calendar`,
    when a list has one for all its rows); None when no clock runs."""
    if case.due_at is None or case.state not in CLOCK_STATES:
        return None
    return working_seconds_until(case.due_at, now=now, calendar=calendar)


def working_seconds_until(due: datetime, *, now: datetime | None = None, calendar=None) -> float:
    """Working time from now until `due`, in seconds; negative past it."""
    now = now or timezone.now()
    calendar = calendar or get_calendar()
    if due >= now:
        return calendar.working_seconds_between(now, due)
    return -calendar.working_seconds_between(due, now)
