"""Running deadlines follow the working calendar (SPEC §4). A holiday or make-up day an
administrator adds, changes or removes is recorded as a `CalendarChange`
(departments/signals.py); every clock running across it then keeps the working time it
had left at the change, counted on the new calendar, and so does the report-for-duty
deadline (报到) of every whistle not yet answered.

Few clocks move within the administrator's request, in its transaction, and the admin
names the cases. Many (a holiday at short notice over a district's open cases takes tens
of seconds) move after the commit, in batches, in the `cases.follow_calendar_changes`
task; the escalation sweep follows any change still waiting before it compares deadlines
with the clock, so that a case the holiday gave more time is never escalated on the old
deadline. Each clock records the last change it was placed or moved on
(`calendar_revision`), so that a clock a transition places on the new calendar meanwhile
is not moved a second time.
"""

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, time

from django.db import connection, transaction
from django.utils import timezone

from cases.models import AWAITING_REPORT, CLOCK_STATES, OPEN_STATES, Case, CaseAssist
from cases.services.deadlines import RUNGS, hold_clocks
from departments.calendar import WorkingCalendar, WorkingTimeRuler, years_this_library_lacks
from departments.models import MOVED_CASES_NAMED, CalendarChange

logger = logging.getLogger(__name__)

# More clocks and summonses than this across a change move after the request: at about
# 0.1 ms each, this many take a few seconds (bench/README.md, the holiday section).
INLINE_LIMIT = 20_000
# Cases (or summonses) a transaction when following in the background: each batch holds
# its rows and the sweeps back for about a second.
BATCH = 5_000
# Rows per UPDATE of `_write_moments`: up to 6,000 parameters, under SQLite's 32,766.
MOMENTS_BATCH = 1000
# One process follows the waiting changes at a time (a session lock, across batches).
FOLLOWING_LOCK_KEY = 0x666F6C6C  # "foll"


def calendar_changed(change: CalendarChange) -> tuple[set[int], list[str], bool]:
    """Within the transaction of `change`: follow it now when it moves few clocks and no
    earlier change still waits; else leave it to the background. Returns the cases moved,
    the first of their numbers, and whether the move was left for later."""
    waiting = CalendarChange.objects.filter(followed_at=None, pk__lt=change.pk).exists()
    if waiting or _clocks_across(change, limit=INLINE_LIMIT) > INLINE_LIMIT:
        return set(), [], True
    moved = follow_calendar_change(change)
    # Among the first ids only (numbers follow them within a year): all of them, as many
    # as a holiday moves, would pass SQLite's limit of variables in one query.
    first = sorted(moved)[:MOVED_CASES_NAMED]
    numbers = Case.objects.filter(pk__in=first).order_by("number").values_list("number", flat=True)
    return moved, list(numbers), False


def follow_calendar_changes() -> int:
    """Follow every change still waiting, oldest first, each after the one before; returns
    how many. Waits for another process following them, then follows what it left. A
    process on an older release of the calendar library than the one that recorded the
    years the deadlines follow leaves them: it would move them on a calendar without the
    newest year's holidays."""
    if lacking := years_this_library_lacks():
        logger.warning(
            "Not moving the running deadlines with the calendar: this process's calendar "
            "library does not know %s, which the database follows. Upgrade chinesecalendar "
            "and restart it.",
            ", ".join(map(str, lacking)),
        )
        return 0
    followed = 0
    with _following():
        while change := CalendarChange.objects.filter(followed_at=None).order_by("pk").first():
            follow_calendar_change(change)
            followed += 1
    return followed


def calendar_changes_waiting() -> bool:
    return CalendarChange.objects.filter(followed_at=None).exists()


@contextmanager
def _following() -> Iterator[None]:
    if connection.vendor != "postgresql":
        yield  # SQLite lets one writer in at a time; a clock moved records it anyway
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [FOLLOWING_LOCK_KEY])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [FOLLOWING_LOCK_KEY])


def follow_calendar_change(change: CalendarChange) -> set[int]:
    """Move the clocks and summonses placed before `change` (every earlier change already
    followed) from the calendar just before it to the calendar just after it, measured
    from the moment it was made; returns the cases moved."""
    moved = _follow(change)
    CalendarChange.objects.filter(pk=change.pk).update(
        followed_at=timezone.now(), cases_moved=len(moved)
    )
    return moved


def catch_up(case: Case) -> None:
    """Follow now, for this case alone, the changes still waiting to move its clock, before
    a transition carries the clock's time left on (a suspension keeps it, an extension adds
    to it): counted on the new calendar from rungs placed on the old, it would be neither
    time. The case's rungs are read back; its version stays, as the transition saves it.
    Its rows are locked as the background's are, but not the clocks' lock: a batch of the
    background's holding that lock may be waiting for this very case, which the
    transition's transaction may already hold. One query when nothing waits."""
    waiting = CalendarChange.objects.filter(followed_at=None, pk__gt=case.calendar_revision)
    changes = list(waiting.order_by("pk"))
    for change in changes:
        _follow(change, case_id=case.pk)
    if changes:
        # Not refresh_from_db: django-fsm would take the state the transition has set in
        # memory for the one stored, and the save would no longer find the row.
        fields = (*RUNGS, "calendar_revision")
        stored = Case.objects.filter(pk=case.pk).values_list(*fields).get()
        for name, value in zip(fields, stored, strict=True):
            setattr(case, name, value)


def _follow(change: CalendarChange, *, case_id: int | None = None) -> set[int]:
    """`clocks_follow_calendar` across `change`, from the calendar just before it to the one
    just after it: the present one with the changes made since undone."""
    after = WorkingCalendar.load()
    later = CalendarChange.objects.filter(pk__gt=change.pk, pk__lte=after.revision)
    for undone in later.order_by("-pk"):
        after = after.before(undone)
    return clocks_follow_calendar(
        old=after.before(change),
        new=after,
        changed=change.first_day,
        now=change.made_at,
        revision=change.pk,
        case_id=case_id,
    )


def _clocks_across(change: CalendarChange, *, limit: int) -> int:
    """How many clocks and summonses the change may move, counted up to `limit` + 1."""
    floor = max(_day_starts(change), change.made_at)
    clocks = _running_clocks(floor)
    summonses = _pending_summonses(floor)
    return clocks[: limit + 1].count() + summonses[: limit + 1].count()


def _day_starts(change: CalendarChange) -> datetime:
    return datetime.combine(change.first_day, time.min, tzinfo=timezone.get_default_timezone())


def _running_clocks(floor: datetime):
    return Case.objects.filter(state__in=CLOCK_STATES, escalate_3_at__gte=floor)


def _pending_summonses(floor: datetime):
    return CaseAssist.objects.filter(
        AWAITING_REPORT, case__state__in=OPEN_STATES, report_due_at__gte=floor
    )


def clocks_follow_calendar(
    *,
    old: WorkingCalendar,
    new: WorkingCalendar,
    changed,
    now: datetime,
    revision: int,
    case_id: int | None = None,
) -> set[int]:
    """Move the rungs still ahead of every running clock placed before `revision` that
    reach the `changed` day (the first day whose entry changed), so that each keeps the
    working time it had left at `now` under `old`, counted on `new`; and the report-for-duty
    deadlines of the whistles not yet answered on open cases the same way. Rungs and
    deadlines already passed at `now` are history and stay. Returns the cases whose rungs
    or deadlines really moved (a day the change leaves as it was for a clock moves
    nothing); the version of those whose rungs moved moves too, so that a form opened
    before cannot write the old rungs back.

    The calendar's arithmetic is Python's: the rows are read a batch at a time, moved in
    memory and written back (a holiday reaches only the clocks running across it). With
    `case_id`, that case's alone, and its version stays (`catch_up`)."""
    alone = case_id is not None
    day_starts = datetime.combine(changed, time.min, tzinfo=new.tz)
    floor = max(day_starts, now)

    # Every clock is measured from the same `now`: rulers sum each day's working time once.
    on_old, on_new = WorkingTimeRuler(old, now), WorkingTimeRuler(new, now)

    def follow(at: datetime) -> datetime:
        return on_new.moment_after(on_old.seconds_to(at))

    moved_cases: set[int] = set()

    def move_clocks(batch: list[tuple]) -> None:
        # Only the rungs that really move: a day the change leaves as it was for the
        # clocks (a holiday on a Saturday, a day already behind `now`) moves nothing, and
        # must neither stale every form opened on those cases nor be told as a move.
        moved = {}
        for pk, *rungs in batch:
            for name, at in zip(RUNGS, rungs, strict=True):
                if at is not None and at > now and at >= day_starts and (to := follow(at)) != at:
                    moved.setdefault(pk, {})[name] = to
        _write_moments(Case, moved, revision=revision, bump_version=not alone)
        moved_cases.update(moved)

    clocks = _running_clocks(floor).filter(calendar_revision__lt=revision)
    if alone:
        clocks = clocks.filter(pk=case_id)
    _in_batches(clocks, ("pk", *RUNGS), move_clocks, hold=not alone)

    summoned_cases: set[int] = set()

    def move_summonses(batch: list[tuple]) -> None:
        moved = {}
        for pk, case_id, due in batch:
            if due > now and (to := follow(due)) != due:
                moved[pk] = {"report_due_at": to}
                summoned_cases.add(case_id)
        # The case's version stays: no form writes an assist (a new whistle sets its own
        # deadline), so bumping it would refuse forms opened on the case as stale for a
        # change they cannot undo.
        _write_moments(CaseAssist, moved, revision=revision)

    summonses = _pending_summonses(floor).filter(calendar_revision__lt=revision)
    if alone:
        summonses = summonses.filter(case_id=case_id)
    _in_batches(summonses, ("pk", "case_id", "report_due_at"), move_summonses, hold=not alone)
    if not alone and (moved_cases or summoned_cases):
        logger.info(
            "Calendar changed from %s: %d running deadline(s) and the report-for-duty "
            "deadlines of %d case(s) moved.",
            changed,
            len(moved_cases),
            len(summoned_cases),
        )
    return moved_cases | summoned_cases


def _in_batches(
    rows, fields: tuple[str, ...], move: Callable[[list[tuple]], None], *, hold: bool = True
) -> None:
    """`move` the `rows` a batch at a time in the order of their ids, each batch locked in
    a transaction of its own (a savepoint within the change's, when followed at once).
    Locked: a transition saving meanwhile would have its new clock overwritten with the old
    one moved; it waits instead, then finds the version moved and is told. Plain rows, not
    models: a Case loaded with `only()` reads its deferred state back one query at a time
    (django-fsm notes every model's initial state)."""
    after = 0
    while True:
        with transaction.atomic():
            if hold:
                hold_clocks(exclusive=True)
            batch = list(
                rows.filter(pk__gt=after)
                .select_for_update(of=("self",))
                .order_by("pk")
                .values_list(*fields)[:BATCH]
            )
            if not batch:
                return
            move(batch)
        after = batch[-1][0]


def _write_moments(
    model, moved: dict[int, dict[str, datetime]], *, revision: int, bump_version=False
) -> None:
    """Write moved moments (`{pk: {field: moment}}`) back with the calendar change they
    now follow, one UPDATE per batch of rows, joined by id to the batch's moments given as
    rows of VALUES (a moment that does not move is NULL there, and kept); with
    `bump_version`, every row's version moves.

    Built here rather than by `bulk_update`, whose expressions cost some 2 ms a row (a
    holiday across 13,000 running clocks took 30 s to write), and as a join rather than a
    CASE over the ids, which compares each row with every id of its batch (40,000 moved
    clocks took 8 s to write)."""
    ops = connection.ops
    table, pk_column = ops.quote_name(model._meta.db_table), ops.quote_name(model._meta.pk.column)
    revision_column = ops.quote_name(model._meta.get_field("calendar_revision").column)
    pks = list(moved)
    for start in range(0, len(pks), MOMENTS_BATCH):
        batch = pks[start : start + MOMENTS_BATCH]
        # Only the fields this batch moves: a column of NULLs alone has no type to join with.
        names = sorted({name for pk in batch for name in moved[pk]})
        columns = [ops.quote_name(model._meta.get_field(name).column) for name in names]
        assignments = [
            f"{column} = COALESCE(moved.{column}, {table}.{column})" for column in columns
        ]
        assignments.append(f"{revision_column} = %s")
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
            cursor.execute(sql, [*params, revision])
