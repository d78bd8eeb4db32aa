"""The deadline clock of a case (SPEC §4), set by the transitions that start and stop it.

Each clock stores its level-1 deadline (`due_at`), the moments of escalation levels 2 and
3 (1.5× and 2× the limit) and of the due-soon reminder (75 %), all in working time, so the
sweep only compares stored, indexed timestamps with the clock.
"""

import logging
from datetime import date, datetime, time
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from cases.models import CLOCK_STATES, OPEN_STATES, Case, CaseAssist, DeadlineKind
from departments.calendar import WorkingCalendar, WorkingTimeRuler, get_calendar

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


def whistle_report_due(*, now: datetime) -> datetime:
    """When departments summoned by a whistle must have reported for duty (报到)."""
    return get_calendar().add_working_seconds(now, dispatch_limit_seconds())


RUNGS = ("remind_at", "due_at", "escalate_2_at", "escalate_3_at")

# Two writers touch many cases in one transaction: the sweep (it raises levels, and at its
# commit the foreign keys of its rows lock the cases they name) and a calendar change (it
# moves rungs). Each locks in its own order, so side by side they could deadlock; a
# calendar change therefore waits for the running sweeps and holds the next ones back
# until it commits. Sweeps share the lock: they may run side by side.
CLOCKS_LOCK_KEY = 0x67726964  # "grid"


def hold_clocks(*, exclusive: bool) -> None:
    """Take the clocks' advisory lock until the transaction ends (PostgreSQL; SQLite lets
    one writer in at a time anyway)."""
    if connection.vendor != "postgresql":
        return
    function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {function}(%s)", [CLOCKS_LOCK_KEY])


def clocks_follow_calendar(
    *, old: WorkingCalendar, new: WorkingCalendar, changed: date, now: datetime | None = None
) -> set[int]:
    """Move the rungs still ahead of every running clock that reach the `changed` day (the
    first day whose holiday or make-up entry an administrator added, changed or removed), so
    that each keeps the working time it had left under `old`, counted on `new`; and the
    report-for-duty deadlines (报到) of the whistles not yet answered on open cases the
    same way. Rungs and deadlines already passed are history and stay. Returns the cases
    whose rungs or deadlines really moved (a day the change leaves as it was for a clock
    moves nothing); the version of those whose rungs moved moves too, so that a form opened
    before cannot write the old rungs back.

    The calendar's arithmetic is Python's: the rows are read in one query each, moved in
    memory and written back in batches (a holiday reaches only the clocks running across it)."""
    now = now or timezone.now()
    day_starts = datetime.combine(changed, time.min, tzinfo=new.tz)

    # Every clock is measured from the same `now`: rulers sum each day's working time once.
    on_old, on_new = WorkingTimeRuler(old, now), WorkingTimeRuler(new, now)

    def follow(at: datetime) -> datetime:
        return on_new.moment_after(on_old.seconds_to(at))

    with transaction.atomic():
        hold_clocks(exclusive=True)
        # Locked: a transition saving meanwhile would have its new clock overwritten with
        # the old one moved; it waits instead, then finds the version moved and is told.
        # Plain rows, not models: a Case loaded with `only()` reads its deferred state
        # back one query at a time (django-fsm notes every model's initial state).
        clocks = (
            Case.objects.select_for_update(of=("self",))
            .filter(state__in=CLOCK_STATES, escalate_3_at__gte=max(day_starts, now))
            .order_by("pk")
            .values_list("pk", *RUNGS)
        )
        # Only the rungs that really move: a day the change leaves as it was for the
        # clocks (a holiday on a Saturday, a day already behind `now`) moves nothing, and
        # must neither stale every form opened on those cases nor be told as a move.
        moved_cases: dict[int, dict[str, datetime]] = {}
        for pk, *rungs in clocks:
            for name, at in zip(RUNGS, rungs, strict=True):
                ahead = at is not None and at >= day_starts and at > now
                if ahead and (moved := follow(at)) != at:
                    moved_cases.setdefault(pk, {})[name] = moved
        _write_moments(Case, moved_cases, bump_version=True)
        # Locked, as no version guards an assist: a whistle blown again meanwhile is read
        # here, not overwritten with the old summons' deadline moved. Locked after the
        # cases, in a transition's order (the case, then its assists), so as not to
        # deadlock with one. The case's version stays: no form writes an assist (a new
        # whistle sets its own deadline), so bumping it would refuse forms opened on the
        # case as stale for a change they cannot undo.
        pending = (
            CaseAssist.objects.select_for_update(of=("self",))
            .filter(
                summoned=True,
                reported_at=None,
                case__state__in=OPEN_STATES,
                report_due_at__gte=day_starts,
                report_due_at__gt=now,
            )
            .order_by("pk")
            .values_list("pk", "case_id", "report_due_at")
        )
        summonses = []  # (pk, case id, moved deadline) of those that really move
        for pk, case_id, due in pending:
            if (moved := follow(due)) != due:
                summonses.append((pk, case_id, moved))
        _write_moments(CaseAssist, {pk: {"report_due_at": due} for pk, _case, due in summonses})
    if moved_cases or summonses:
        logger.info(
            "Calendar changed from %s: %d running deadline(s) and %d report-for-duty "
            "deadline(s) moved.",
            changed,
            len(moved_cases),
            len(summonses),
        )
    return set(moved_cases) | {case_id for _pk, case_id, _due in summonses}


# Rows per UPDATE of `_write_moments`: up to 5,000 parameters, under SQLite's 32,766.
MOMENTS_BATCH = 1000


def _write_moments(model, moved: dict[int, dict[str, datetime]], *, bump_version=False) -> None:
    """Write moved moments (`{pk: {field: moment}}`) back, one UPDATE per batch of rows,
    joined by id to the batch's moments given as rows of VALUES (a moment that does not
    move is NULL there, and kept); with `bump_version`, every row's version moves.

    Built here rather than by `bulk_update`, whose expressions cost some 2 ms a row (a
    holiday across 13,000 running clocks took 30 s to write), and as a join rather than a
    CASE over the ids, which compares each row with every id of its batch (40,000 moved
    clocks took 8 s to write)."""
    ops = connection.ops
    table, pk_column = ops.quote_name(model._meta.db_table), ops.quote_name(model._meta.pk.column)
    pks = list(moved)
    for start in range(0, len(pks), MOMENTS_BATCH):
        batch = pks[start : start + MOMENTS_BATCH]
        # Only the fields this batch moves: a column of NULLs alone has no type to join with.
        names = sorted({name for pk in batch for name in moved[pk]})
        columns = [ops.quote_name(model._meta.get_field(name).column) for name in names]
        assignments = [
            f"{column} = COALESCE(moved.{column}, {table}.{column})" for column in columns
        ]
        if bump_version:
            version = ops.quote_name(model._meta.get_field("version").column)
            assignments.append(f"{version} = {table}.{version} + 1")
        row = f"({', '.join(['%s'] * (len(names) + 1))})"
        params = []
        for pk in batch:
            params.append(pk)
            for name in names:
                at = moved[pk].get(name)
                params.append(None if at is None else ops.adapt_datetimefield_value(at))
        sql = (
            f"WITH moved (id, {', '.join(columns)}) AS (VALUES {', '.join([row] * len(batch))}) "
            f"UPDATE {table} SET {', '.join(assignments)} "
            f"FROM moved WHERE {table}.{pk_column} = moved.id"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
