"""The working-time ruler (departments.calendar.WorkingTimeRuler) answers as the calendar
it measures with, to the microsecond, whatever the calendar, hours and moments: a holiday
moves every running clock with it, so any difference would move a deadline."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from departments.calendar import WorkingCalendar, WorkingTimeRuler

SHANGHAI = ZoneInfo("Asia/Shanghai")
HOUR = 3600
DAY = 24 * HOUR

HOURS = st.sampled_from(
    [
        ((time(9), time(17)),),
        ((time(8, 30), time(12)), (time(13, 30), time(17, 30))),  # a lunch break (午休)
        ((time(0), time(23, 59, 59)),),
    ]
)
# Whole hours often (openings, closings, midnights), any microsecond sometimes.
SECONDS_AHEAD = st.one_of(
    st.integers(0, 40 * 24).map(lambda hours: float(hours * HOUR)),
    st.floats(0, 40 * DAY, allow_nan=False).map(lambda s: round(s, 6)),
)


def calendar_with(periods, days_off, make_up_days):
    return WorkingCalendar(
        overrides={**dict.fromkeys(days_off, False), **dict.fromkeys(make_up_days, True)},
        admin_years=frozenset({2026, 2027}),
        periods=periods,
        tz=SHANGHAI,
    )


@settings(max_examples=150, deadline=None)
@given(
    periods=HOURS,
    days_off=st.sets(st.dates(date(2026, 12, 1), date(2027, 2, 28)), max_size=15),
    make_up_days=st.sets(st.dates(date(2026, 12, 1), date(2027, 2, 28)), max_size=4),
    origin_offset=SECONDS_AHEAD,
    queries=st.lists(st.tuples(st.booleans(), SECONDS_AHEAD), min_size=1, max_size=12),
)
def test_the_ruler_answers_as_the_calendar(periods, days_off, make_up_days, origin_offset, queries):
    calendar = calendar_with(periods, days_off, make_up_days)
    origin = datetime(2026, 12, 1, tzinfo=SHANGHAI) + timedelta(seconds=origin_offset)
    ruler = WorkingTimeRuler(calendar, origin)
    # In any order: the ruler sums its days as the questions reach them.
    for is_moment, seconds in queries:
        if is_moment:
            moment = origin + timedelta(seconds=seconds)
            expected = calendar.working_seconds_between(origin, moment)
            assert ruler.seconds_to(moment) == expected
            # Back again, from the moment's working time: closing times and midnights,
            # where a deadline ends on one day or the next.
            assert ruler.moment_after(expected) == calendar.add_working_seconds(origin, expected)
        else:
            assert ruler.moment_after(seconds) == calendar.add_working_seconds(origin, seconds)


def test_the_ruler_counts_a_moment_before_its_origin_as_the_calendar_does():
    calendar = calendar_with(((time(9), time(17)),), set(), set())
    origin = datetime(2026, 12, 2, 10, tzinfo=SHANGHAI)
    ruler = WorkingTimeRuler(calendar, origin)
    before = datetime(2026, 12, 1, 16, tzinfo=SHANGHAI)
    assert ruler.seconds_to(before) == calendar.working_seconds_between(origin, before) == -7200
    with pytest.raises(ValueError, match="negative"):
        ruler.moment_after(-1)
