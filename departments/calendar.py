"""Working time on the official Chinese calendar (SPEC §4).

A day is a working day by, in order: the administrators' `Holiday` table, then the
`chinesecalendar` library (public holidays off, make-up days 调休 on) for the years `migrate`
has recorded as followed (`CalendarLibraryYear`), then, for a year neither knows, weekends
only, which is logged as a warning and shown in the admin.
Working hours are `settings.WORKING_HOURS`, in `settings.TIME_ZONE`: one period a day, or
several with breaks between them (午休), which count no working time.
"""

from __future__ import annotations

import logging
import threading
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
from django.conf import settings
from django.db.models import Max

from departments.models import CalendarChange, CalendarLibraryYear, Holiday, RoutingStamp

logger = logging.getLogger(__name__)


Period = tuple[time, time]


def working_periods() -> tuple[Period, ...]:
    """`settings.WORKING_HOURS` as the day's periods, (start, end) each, in order. The
    setting is one (start, end) pair, as it has always been (and as tests and older
    deployments still set it), or a tuple of pairs for a day with breaks; both come from
    governance.settings.parse_working_hours, which checks their order. This is the one
    place that tells the two shapes apart."""
    hours = settings.WORKING_HOURS
    if isinstance(hours[0], time):
        start, end = hours
        return ((start, end),)
    return tuple((start, end) for start, end in hours)


def working_hours_text() -> str:
    """The day's working periods as people read them: "08:30–12:00, 14:00–17:30"."""
    return ", ".join(f"{start:%H:%M}–{end:%H:%M}" for start, end in working_periods())


def working_day_seconds() -> int:
    """The length of one working day (`settings.WORKING_HOURS`), in seconds."""
    return _day_seconds(working_periods())


def _day_seconds(periods: tuple[Period, ...]) -> int:
    return sum(_span_seconds(start, end) for start, end in periods)


def _span_seconds(start: time, end: time) -> int:
    span = datetime.combine(date.min, end) - datetime.combine(date.min, start)
    return int(span.total_seconds())


_library_years = frozenset(day.year for day in chinese_calendar.holidays) | frozenset(
    day.year for day in chinese_calendar.workdays
)


def library_years() -> frozenset[int]:
    return _library_years


def recorded_library_years() -> frozenset[int]:
    """The library's years the running deadlines follow, as `migrate` recorded them
    (departments/signals.py)."""
    return frozenset(CalendarLibraryYear.objects.values_list("year", flat=True))


def years_this_library_lacks() -> list[int]:
    """The years the running deadlines follow (a newer release of the library recorded
    them) that this process's release does not know: it is older, and must be upgraded."""
    return sorted(recorded_library_years() - _library_years)


def followed_library_years() -> frozenset[int]:
    """The years this process's library knows that the running deadlines follow. All it
    knows when nothing is recorded (a database flushed since its migration)."""
    followed = recorded_library_years()
    return _library_years & followed if followed else _library_years


def library_days_off_the_week(years) -> list[date]:
    """The days of `years` the library counts otherwise than the week does: public
    holidays on weekdays and make-up working days at weekends."""
    return sorted(
        [day for day in chinese_calendar.holidays if day.year in years and day.weekday() < 5]
        + [day for day in chinese_calendar.workdays if day.year in years and day.weekday() >= 5]
    )


@dataclass
class WorkingCalendar:
    overrides: dict[date, bool] = field(default_factory=dict)  # date -> is working day
    admin_years: frozenset[int] = frozenset()
    periods: tuple[Period, ...] = ((time(9), time(17)),)
    tz: ZoneInfo = ZoneInfo("Asia/Shanghai")
    # The last CalendarChange this calendar includes: a clock placed on it records the
    # number, so that following a later change moves it and an earlier one does not.
    revision: int = 0
    # The library's years this calendar counts by the library: the ones the running
    # deadlines follow (`CalendarLibraryYear`). A year a newly installed release knows is
    # counted by the week, as before, until `migrate` records it and moves the deadlines
    # across its days (departments/signals.py): else a clock placed on it meanwhile would
    # be moved across the new holidays a second time.
    library_years: frozenset[int] = field(default_factory=lambda: _library_years)
    _warned_years: set[int] = field(default_factory=set)
    # Answers already worked out: the escalation sweep asks about the same few dozen days
    # for every overdue case, and chinesecalendar's check costs ~0.1 ms a call.
    _known_days: dict[date, bool] = field(default_factory=dict)

    @classmethod
    def load(cls) -> WorkingCalendar:
        # The entries and the number of the last change they include, read in separate
        # statements: the number read again after the entries tells that no change
        # committed between (changes commit in the order of their numbers).
        revision = _last_change()
        while True:
            entries = Holiday.objects.values_list("date", "kind")
            overrides = {day: kind == Holiday.Kind.WORKDAY for day, kind in entries}
            if (latest := _last_change()) == revision:
                break
            revision = latest
        return cls(
            overrides=overrides,
            admin_years=frozenset(day.year for day in overrides),
            periods=working_periods(),
            tz=ZoneInfo(settings.TIME_ZONE),
            revision=revision,
            library_years=followed_library_years(),
        )

    def before(self, change: CalendarChange) -> WorkingCalendar:
        """This calendar with `change` undone: its days take back the kinds they had. It
        has no revision (0): clocks are moved from it, never placed on it."""
        overrides = dict(self.overrides)
        for day, kind in change.days_before().items():
            if kind is None:
                overrides.pop(day, None)
            else:
                overrides[day] = kind == Holiday.Kind.WORKDAY
        return WorkingCalendar(
            overrides=overrides,
            admin_years=frozenset(day.year for day in overrides),
            periods=self.periods,
            tz=self.tz,
            library_years=self.library_years,
        )

    @property
    def day_seconds(self) -> int:
        return _day_seconds(self.periods)

    def knows_year(self, year: int) -> bool:
        return year in self.library_years or year in self.admin_years

    def is_working_day(self, day: date) -> bool:
        known = self._known_days.get(day)
        if known is None:
            known = self._known_days[day] = self._is_working_day(day)
        return known

    def _is_working_day(self, day: date) -> bool:
        if day in self.overrides:
            return self.overrides[day]
        if day.year in self.library_years:
            return chinese_calendar.is_workday(day)
        # A year the administrators filled in: their table lists its holidays and make-up
        # days, every other day follows the week. Only a year nobody knows is a guess.
        if day.year not in self.admin_years:
            self.warn_unknown_year(day.year)
        return day.weekday() < 5

    def warn_unknown_year(self, year: int) -> None:
        """Log, once per loaded calendar, that `year` is counted with weekends only."""
        if year not in self._warned_years:
            self._warned_years.add(year)
            logger.warning(
                "The working calendar does not know %s: counting weekends only. "
                "Add its holidays and make-up days in the admin.",
                year,
            )

    def _windows(self, day: date) -> list[tuple[datetime, datetime]]:
        return [
            (
                datetime.combine(day, start, tzinfo=self.tz),
                datetime.combine(day, end, tzinfo=self.tz),
            )
            for start, end in self.periods
        ]

    def add_working_seconds(self, start: datetime, seconds: float) -> datetime:
        """The moment `seconds` of working time after `start` (an aware datetime), in UTC.

        Zero seconds from outside working hours is the next opening; a deadline that ends
        exactly at closing time is that closing time, not the next morning (nor, before a
        midday break, the afternoon's opening).
        """
        if seconds < 0:
            raise ValueError(f"Cannot add a negative working time ({seconds} s).")
        if start.tzinfo is None:
            raise ValueError("add_working_seconds needs an aware datetime.")
        remaining = timedelta(seconds=seconds)
        moment = start.astimezone(self.tz)
        day = moment.date()
        while True:
            if self.is_working_day(day):
                for opens, closes in self._windows(day):
                    begin = max(moment, opens)
                    if begin < closes:
                        available = closes - begin
                        if remaining <= available:
                            return (begin + remaining).astimezone(UTC)
                        remaining -= available
            day += timedelta(days=1)
            moment = datetime.combine(day, time.min, tzinfo=self.tz)

    def subtract_working_seconds(self, end: datetime, seconds: float) -> datetime:
        """The moment `seconds` of working time before `end` (an aware datetime), in UTC:
        where a deadline that `end` is overdue by that much fell."""
        if seconds < 0:
            raise ValueError(f"Cannot subtract a negative working time ({seconds} s).")
        if end.tzinfo is None:
            raise ValueError("subtract_working_seconds needs an aware datetime.")
        remaining = timedelta(seconds=seconds)
        moment = end.astimezone(self.tz)
        day = moment.date()
        while True:
            if self.is_working_day(day):
                for opens, closes in reversed(self._windows(day)):
                    finish = min(moment, closes)
                    if finish > opens:
                        available = finish - opens
                        # Strictly less: a moment at opening time is the closing time of
                        # the period before, as add_working_seconds ends at closing time.
                        if remaining < available:
                            return (finish - remaining).astimezone(UTC)
                        remaining -= available
            day -= timedelta(days=1)
            moment = datetime.combine(day, time.max, tzinfo=self.tz)

    def working_seconds_between(self, start: datetime, end: datetime) -> float:
        """Working seconds from `start` to `end` (negative when `end` is earlier)."""
        if end < start:
            return -self.working_seconds_between(end, start)
        total = timedelta()
        day, last = start.astimezone(self.tz).date(), end.astimezone(self.tz).date()
        while day <= last:
            if self.is_working_day(day):
                for opens, closes in self._windows(day):
                    begin, finish = max(start, opens), min(end, closes)
                    if finish > begin:
                        total += finish - begin
            day += timedelta(days=1)
        return total.total_seconds()

    def unknown_years(self, around: date, years_ahead: int = 1) -> list[int]:
        """Years from `around` to `years_ahead` later that neither source knows."""
        return [
            year
            for year in range(around.year, around.year + years_ahead + 1)
            if not self.knows_year(year)
        ]


class WorkingTimeRuler:
    """Working time between one origin and many moments, for moving thousands of clocks at
    once (a holiday added at short notice). The calendar walks day by day from the origin
    for every moment; the ruler lays the working periods from the origin out once, each
    with the working time before it, so a moment costs a binary search. Its answers are the
    calendar's to the microsecond: `seconds_to(at) == working_seconds_between(origin, at)`
    for `at` from the origin on, and `moment_after(s) == add_working_seconds(origin, s)`.

    Internally in whole microseconds since the epoch (instants, as the calendar compares
    moments of different zones), so nothing is rounded on the way."""

    def __init__(self, calendar: WorkingCalendar, origin: datetime):
        self.calendar, self.origin = calendar, origin
        self._origin = _micros(origin)
        self._first_day = origin.astimezone(calendar.tz).date()
        self._days_laid = 0
        self._laid_until = self._origin  # the end (a midnight) of the last day laid out
        # The working periods from the origin on, in order: start, end, and the working
        # time from the origin to the start and to the end.
        self._starts: list[int] = []
        self._ends: list[int] = []
        self._before: list[int] = []
        self._through: list[int] = []

    def _lay_next_day(self) -> None:
        day = self._first_day + timedelta(days=self._days_laid)
        self._days_laid += 1
        self._laid_until = _micros(
            datetime.combine(day + timedelta(days=1), time.min, self.calendar.tz)
        )
        if not self.calendar.is_working_day(day):
            return
        for opens, closes in self.calendar._windows(day):
            start, end = max(_micros(opens), self._origin), _micros(closes)
            if start < end:
                before = self._through[-1] if self._through else 0
                self._starts.append(start)
                self._ends.append(end)
                self._before.append(before)
                self._through.append(before + end - start)

    def micros_to(self, at: int) -> int:
        """Working microseconds from the origin to `at` (microseconds since the epoch, not
        before the origin)."""
        while self._laid_until <= at:
            self._lay_next_day()
        index = bisect_right(self._starts, at) - 1
        if index < 0:
            return 0
        return self._before[index] + min(at, self._ends[index]) - self._starts[index]

    def micros_after(self, wanted: int) -> int:
        """The moment (microseconds since the epoch) `wanted` working microseconds after the
        origin: a deadline reaching a closing time exactly ends there, as the calendar's."""
        while not self._through or self._through[-1] < wanted:
            self._lay_next_day()
        index = bisect_left(self._through, wanted)
        return self._starts[index] + wanted - self._before[index]

    def seconds_to(self, at: datetime) -> float:
        if at < self.origin:
            return self.calendar.working_seconds_between(self.origin, at)
        return self.micros_to(_micros(at)) / MICROS

    def moment_after(self, seconds: float) -> datetime:
        if seconds < 0:
            raise ValueError(f"Cannot add a negative working time ({seconds} s).")
        return _moment(self.micros_after(timedelta(seconds=seconds) // ONE_MICROSECOND))


MICROS = 1_000_000
ONE_MICROSECOND = timedelta(microseconds=1)
EPOCH = datetime(1970, 1, 1, tzinfo=ZoneInfo("UTC"))


def _micros(moment: datetime) -> int:
    return (moment - EPOCH) // ONE_MICROSECOND


def _moment(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=micros)


# The admin speaks of this year and the next: deadlines rarely reach further.
WARNED_YEARS_AHEAD = 1


def calendar_warnings(today: date | None = None) -> list[str]:
    """Warnings, for the admin, about this year and the next when neither the library nor
    the holiday table knows them (deadlines there count weekends only). Also logged."""
    from django.utils import timezone
    from django.utils.translation import gettext as _

    today = today or timezone.localdate()
    calendar = get_calendar()
    messages = []
    for year in calendar.unknown_years(today, years_ahead=WARNED_YEARS_AHEAD):
        calendar.warn_unknown_year(year)
        messages.append(
            _(
                "The working calendar does not know the public holidays of %(year)s: deadlines "
                "in %(year)s count only weekends as days off. Add that year's holidays and "
                "make-up working days to the holidays and make-up days, or upgrade the "
                "chinesecalendar package and run migrate."
            )
            % {"year": year}
        )
    return messages


def calendar_notes(today: date | None = None) -> list[str]:
    """For the holiday list: this year and the next when only the entries made here tell
    their days off (the library does not know them): how many there are, so that a year
    begun with one holiday is not taken for a year filled in."""
    from django.utils import timezone
    from django.utils.translation import ngettext

    today = today or timezone.localdate()
    calendar = get_calendar()
    notes = []
    for year in range(today.year, today.year + WARNED_YEARS_AHEAD + 1):
        if year in calendar.admin_years and year not in calendar.library_years:
            entries = sum(1 for day in calendar.overrides if day.year == year)
            notes.append(
                # The entries are days off and make-up working days: not all are days off.
                ngettext(
                    "The calendar library does not know %(year)s: its working days follow the "
                    "week, except the %(count)d holiday or make-up working day entered here. "
                    "Check that all of %(year)s's holidays and make-up working days are entered.",
                    "The calendar library does not know %(year)s: its working days follow the "
                    "week, except the %(count)d holidays and make-up working days entered here. "
                    "Check that all of %(year)s's holidays and make-up working days are entered.",
                    entries,
                )
                % {"year": year, "count": entries}
            )
    return notes


def _last_change() -> int:
    return CalendarChange.objects.aggregate(last=Max("pk"))["last"] or 0


UTC = ZoneInfo("UTC")
_lock = threading.Lock()
_cached: tuple[int, tuple, WorkingCalendar] | None = None


def get_calendar(*, stamp: int | None = None) -> WorkingCalendar:
    """This process's calendar, reloaded when the catalogue stamp or the settings change.

    `stamp`: the catalogue stamp when the caller already read it in this request (intake
    reads it once for the router and the calendar)."""
    global _cached
    if stamp is None:
        stamp = RoutingStamp.current()
    key = (stamp, (working_periods(), settings.TIME_ZONE))
    cached = _cached
    if cached is not None and cached[:2] == key:
        return cached[2]
    with _lock:
        calendar = WorkingCalendar.load()
        _cached = (*key, calendar)
        return calendar
