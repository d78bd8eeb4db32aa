"""The deadline clock of a case (SPEC §4), set by the transitions that start and stop it.

Each clock stores its level-1 deadline (`due_at`), the moments of escalation levels 2 and
3 (1.5× and 2× the limit) and of the due-soon reminder (75 %), all in working time, so the
sweep only compares stored, indexed timestamps with the clock.
"""

import logging
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import connection

from cases.models import Case, DeadlineKind
from departments.calendar import WorkingCalendar, get_calendar

logger = logging.getLogger(__name__)

# Default limits for a case with no category (dispatched out of `unclassified`).
DEFAULT_ACCEPT_HOURS = Decimal("8")
DEFAULT_RESOLVE_DAYS = Decimal("5")

LEVEL_OFFSETS = {1: Decimal("0"), 2: Decimal("0.5"), 3: Decimal("1")}
REMINDER_OFFSET = Decimal("-0.25")


class DeadlineError(ValueError):
    """A limit that cannot make a deadline (zero or negative)."""


def dispatch_limit_seconds() -> int:
    """FALLBACK_DISPATCH_HOURS in working seconds, counted in decimal as a category's limits
    are: 4.1 h is 14,759.999… s in binary floating point, whose whole seconds put the pool's
    deadlines a second before the 13:06 counted by hand (shown as 13:05)."""
    return int(Decimal(str(settings.FALLBACK_DISPATCH_HOURS)) * 3600)


def limit_seconds(case: Case, kind: str, calendar: WorkingCalendar) -> int:
    """The working seconds the clock of `kind` allows on this case.

    The database refuses categories with a limit that is not positive
    (`category_limits_positive`); this refuses one that slipped through anyway, loudly,
    rather than making a case overdue the moment it arrives.
    """
    if kind == DeadlineKind.DISPATCH:
        seconds = dispatch_limit_seconds()
        what = "FALLBACK_DISPATCH_HOURS"
    elif kind == DeadlineKind.ACCEPT:
        category = case.category
        hours = category.accept_hours if category else DEFAULT_ACCEPT_HOURS
        seconds = int(Decimal(hours) * 3600)
        what = f"the accept limit of category {category.code if category else '-'}"
    elif kind == DeadlineKind.RESOLVE:
        category = case.category
        days = category.resolve_days if category else DEFAULT_RESOLVE_DAYS
        seconds = int(Decimal(days) * calendar.day_seconds)
        what = f"the resolve limit of category {category.code if category else '-'}"
    else:
        raise DeadlineError(f"Unknown deadline kind {kind!r}.")
    if seconds <= 0:
        raise DeadlineError(f"{what} must be greater than zero (it gives {seconds} s).")
    return seconds


def _place_clock(case: Case, *, remaining: int, limit: int, now: datetime, calendar) -> None:
    def at(offset: Decimal) -> datetime:
        seconds = remaining + int(offset * limit)
        if seconds >= 0:
            return calendar.add_working_seconds(now, seconds)
        # A clock resumed while overdue stays as overdue as when it stopped; the rungs it
        # had climbed are not climbed again (the same deadline_seq).
        return calendar.subtract_working_seconds(now, -seconds)

    case.due_at = at(LEVEL_OFFSETS[1])
    case.escalate_2_at = at(LEVEL_OFFSETS[2])
    case.escalate_3_at = at(LEVEL_OFFSETS[3])
    case.remind_at = at(REMINDER_OFFSET)
    case.calendar_revision = calendar.revision


def start_clock(
    case: Case,
    kind: str,
    *,
    now: datetime,
    calendar: WorkingCalendar | None = None,
    remaining: int | None = None,
) -> None:
    """Start a fresh deadline of `kind`: a new deadline, so its escalations start at level 1.

    `calendar`: the one the caller already holds (intake reads the stamp once a request).
    `remaining`: the working seconds to the deadline when not the whole limit (an extension);
    the later rungs keep their distance from it."""
    calendar = calendar or get_calendar()
    limit = limit_seconds(case, kind, calendar)
    case.deadline_kind = kind
    case.deadline_seq += 1
    case.deadline_started_at = now
    case.escalation_level = 0
    case.paused_remaining_seconds = case.paused_limit_seconds = None
    remaining = limit if remaining is None else remaining
    _place_clock(case, remaining=remaining, limit=limit, now=now, calendar=calendar)


def stop_clock(case: Case) -> None:
    case.deadline_kind = ""
    case.due_at = case.escalate_2_at = case.escalate_3_at = case.remind_at = None
    case.paused_remaining_seconds = case.paused_limit_seconds = None


def pause_clock(case: Case, *, now: datetime) -> None:
    """Stop the clock, keeping the working time left (negative when already overdue)."""
    if not case.deadline_kind or case.due_at is None:
        return
    calendar = get_calendar()
    # The limit the running clock was placed with, read off its own rungs (level 3 is one
    # limit after the deadline): a correction since may have changed the category's.
    case.paused_limit_seconds = (
        int(calendar.working_seconds_between(case.due_at, case.escalate_3_at))
        if case.escalate_3_at
        else limit_seconds(case, case.deadline_kind, calendar)
    )
    remaining = int(calendar.working_seconds_between(now, case.due_at))
    if remaining == 0 and now >= case.due_at:
        # Overdue (at the deadline already, as the sweep counts), though no working time
        # has run past it (suspended at that moment, or the evening after): a second past
        # it keeps the sign that 0 would lose on resume.
        remaining = -1
    case.paused_remaining_seconds = remaining
    case.due_at = case.escalate_2_at = case.escalate_3_at = case.remind_at = None


def resume_clock(case: Case, *, now: datetime) -> None:
    """Restart a paused clock with the time it had left; the deadline stays the same one."""
    if not case.deadline_kind or case.paused_remaining_seconds is None:
        return
    _place_clock(
        case,
        remaining=case.paused_remaining_seconds,
        limit=case.paused_limit_seconds,
        now=now,
        calendar=get_calendar(),
    )
    case.paused_remaining_seconds = case.paused_limit_seconds = None


def whistle_report_due(*, now: datetime) -> tuple[datetime, int]:
    """When departments summoned by a whistle must have reported for duty (报到), and the
    calendar change it was counted on (CaseAssist.calendar_revision)."""
    calendar = get_calendar()
    return calendar.add_working_seconds(now, dispatch_limit_seconds()), calendar.revision


RUNGS = ("remind_at", "due_at", "escalate_2_at", "escalate_3_at")

# Two writers touch many cases in one transaction: the sweep (it raises levels, and at its
# commit the foreign keys of its rows lock the cases they name) and a calendar change (it
# moves rungs, a batch of cases a transaction: cases/services/calendar_changes.py). Each
# locks in its own order, so side by side they could deadlock; a batch therefore waits for
# the running sweeps and holds the next ones back until it commits. Sweeps share the lock:
# they may run side by side.
CLOCKS_LOCK_KEY = 0x67726964  # "grid"


def hold_clocks(*, exclusive: bool) -> None:
    """Take the clocks' advisory lock until the transaction ends (PostgreSQL; SQLite lets
    one writer in at a time anyway)."""
    if connection.vendor != "postgresql":
        return
    function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {function}(%s)", [CLOCKS_LOCK_KEY])
