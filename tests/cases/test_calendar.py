"""Working time on the official Chinese calendar (SPEC §4): weekends, Spring Festival and
National Day 2026 with their make-up days, the administrators' holiday table, a year no
source knows, and the edges of working hours."""

import logging
import os
import subprocess
import sys
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ImproperlyConfigured

from departments.calendar import (
    calendar_notes,
    calendar_warnings,
    get_calendar,
    library_years,
    working_day_seconds,
)
from departments.models import Holiday
from governance.settings import env_positive_float, parse_working_hours
from tests.calendar_years import LAST_YEAR_THE_LIBRARY_KNOWS, UNKNOWN_YEAR

SHANGHAI = ZoneInfo("Asia/Shanghai")
HOUR = 3600
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_calendar(monkeypatch):
    # Each test starts from a newly loaded calendar, so "warned once per year" is per test.
    monkeypatch.setattr("departments.calendar._cached", None)


def at(month: int, day: int, hour: int = 9, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def later(start: datetime, seconds: float) -> datetime:
    return get_calendar().add_working_seconds(start, seconds).astimezone(SHANGHAI)


def test_friday_afternoon_plus_two_hours_lands_on_monday_morning():
    assert later(at(11, 20, 16), 2 * HOUR) == at(11, 23, 10)


def test_a_weekend_adds_no_working_time():
    assert get_calendar().working_seconds_between(at(11, 20, 17), at(11, 23, 9)) == 0


def test_spring_festival_make_up_saturday_is_a_working_day():
    # Saturday 14 February 2026 is a make-up day (调休) before the holiday.
    assert later(at(2, 13, 16), 2 * HOUR) == at(2, 14, 10)


def test_spring_festival_holiday_is_skipped_whole():
    # 15–23 February 2026 are off: two hours from the last afternoon land on the 24th.
    assert later(at(2, 14, 16), 2 * HOUR) == at(2, 24, 10)


def test_spring_festival_week_counts_only_the_make_up_day():
    calendar = get_calendar()
    assert calendar.working_seconds_between(at(2, 13, 9), at(2, 24, 9)) == 16 * HOUR
    # The second make-up day, Saturday 28 February, counts; Sunday 1 March does not.
    assert calendar.working_seconds_between(at(2, 27, 17), at(3, 2, 9)) == 8 * HOUR


def test_national_day_2026_is_off_and_its_make_up_days_are_on():
    calendar = get_calendar()
    assert later(at(9, 30, 16), 2 * HOUR) == at(10, 8, 10)
    assert later(at(10, 9, 16), 2 * HOUR) == at(10, 10, 10)  # Saturday 10 October, make-up
    assert later(at(9, 19, 12), 1 * HOUR) == at(9, 20, 10)  # Sunday 20 September, make-up
    assert calendar.working_seconds_between(at(9, 30, 17), at(10, 8, 9)) == 0


def test_working_days_are_counted_in_days_of_working_hours():
    calendar = get_calendar()
    assert calendar.day_seconds == 8 * HOUR
    assert later(at(2, 13, 9), 2 * calendar.day_seconds) == at(2, 14, 17)


def test_an_admin_added_holiday_is_a_day_off():
    Holiday.objects.create(date=at(11, 24).date(), kind=Holiday.Kind.HOLIDAY, name="Local day")
    assert later(at(11, 23, 16), 2 * HOUR) == at(11, 25, 10)


def test_an_admin_added_make_up_day_is_a_working_day():
    Holiday.objects.create(date=at(11, 28).date(), kind=Holiday.Kind.WORKDAY, name="调休")
    assert later(at(11, 27, 16), 2 * HOUR) == at(11, 28, 10)


def test_the_holiday_table_overrides_the_library():
    # 2 October 2026 is a public holiday in the library; a local order makes it a workday.
    Holiday.objects.create(date=at(10, 2).date(), kind=Holiday.Kind.WORKDAY)
    assert later(at(9, 30, 16), 2 * HOUR) == at(10, 2, 10)


def test_an_unknown_year_counts_weekends_only_and_says_so(caplog):
    caplog.set_level(logging.WARNING, logger="departments.calendar")
    # 1 January is a Friday that year; nobody knows the year, so it counts as working.
    new_year = UNKNOWN_YEAR
    assert later(at(12, 31, 16, year=new_year - 1), 2 * HOUR) == at(1, 1, 10, year=new_year)
    assert later(at(1, 1, 16, year=new_year), 2 * HOUR) == at(1, 4, 10, year=new_year)
    assert f"does not know {new_year}" in caplog.text


def test_calendar_warnings_name_the_unknown_year_for_the_admin(caplog):
    caplog.set_level(logging.WARNING, logger="departments.calendar")
    next_year = LAST_YEAR_THE_LIBRARY_KNOWS + 1
    warnings = calendar_warnings(today=at(11, 23, year=LAST_YEAR_THE_LIBRARY_KNOWS).date())
    assert len(warnings) == 1 and str(next_year) in warnings[0]
    assert f"does not know {next_year}" in caplog.text


def test_no_calendar_warning_for_years_the_library_knows():
    assert calendar_warnings(today=at(3, 1, year=2025).date()) == []


def first_monday_of_february(year: int) -> datetime:
    first = at(2, 1, 0, year=year)
    return first + timedelta(days=-first.weekday() % 7)


def test_a_year_the_admins_filled_in_is_known_and_not_warned_about(caplog):
    next_year = LAST_YEAR_THE_LIBRARY_KNOWS + 1
    monday = first_monday_of_february(next_year)
    Holiday.objects.create(date=monday.date(), kind=Holiday.Kind.HOLIDAY, name="春节")
    caplog.set_level(logging.WARNING, logger="departments.calendar")
    today = at(11, 23, year=LAST_YEAR_THE_LIBRARY_KNOWS).date()
    assert calendar_warnings(today=today) == []
    friday_afternoon = monday - timedelta(days=3) + timedelta(hours=16)
    assert later(friday_afternoon, 2 * HOUR) == monday + timedelta(days=1, hours=10)
    assert "does not know" not in caplog.text
    # The holiday list still says how few entries the year has, so it gets filled in.
    (note,) = calendar_notes(today=today)
    assert (
        f"does not know {next_year}: its working days follow the week, except the 1 holiday" in note
    )


def test_the_note_on_a_year_filled_in_by_hand_does_not_call_make_up_days_days_off():
    next_year = LAST_YEAR_THE_LIBRARY_KNOWS + 1
    Holiday.objects.create(date=date(next_year, 1, 1), kind=Holiday.Kind.HOLIDAY, name="元旦")
    Holiday.objects.create(date=date(next_year, 2, 20), kind=Holiday.Kind.WORKDAY, name="调休")
    (note,) = calendar_notes(today=date(LAST_YEAR_THE_LIBRARY_KNOWS, 11, 23))
    assert "days off are" not in note
    assert "except the 2 holidays and make-up working days entered here" in note


def test_the_tests_unknown_year_is_one_the_library_does_not_know():
    # Else the tests that count weekends only in it would fail on their dates, not here.
    assert UNKNOWN_YEAR not in library_years()


def test_a_deadline_ending_at_closing_time_is_that_closing_time():
    assert later(at(11, 23, 9), 8 * HOUR) == at(11, 23, 17)


def test_time_counted_from_before_opening_starts_at_opening():
    assert later(at(11, 23, 7, 30), HOUR) == at(11, 23, 10)


def test_time_counted_from_the_evening_starts_next_morning():
    assert later(at(11, 23, 20), HOUR) == at(11, 24, 10)
    assert later(at(11, 23, 17), 0) == at(11, 24, 9)


def test_working_seconds_between_spans_the_night():
    calendar = get_calendar()
    assert calendar.working_seconds_between(at(11, 23, 16, 30), at(11, 24, 9, 30)) == HOUR
    assert calendar.working_seconds_between(at(11, 24, 9, 30), at(11, 23, 16, 30)) == -HOUR


def earlier(end: datetime, seconds: float) -> datetime:
    return get_calendar().subtract_working_seconds(end, seconds).astimezone(SHANGHAI)


def test_subtracting_working_time_walks_back_over_nights_weekends_and_holidays():
    assert earlier(at(11, 24, 10), 1.5 * HOUR) == at(11, 23, 16, 30)
    assert earlier(at(11, 23, 10), 2 * HOUR) == at(11, 20, 16)  # back over the weekend
    assert earlier(at(11, 23, 20), HOUR) == at(11, 23, 16)  # from the evening
    assert earlier(at(10, 8, 10), 2 * HOUR) == at(9, 30, 16)  # back over National Day
    # Back to exactly an opening: the closing time before it, as a deadline ends there.
    assert earlier(at(11, 24, 10), HOUR) == at(11, 23, 17)
    calendar = get_calendar()
    for start, seconds in ((at(11, 24, 10), 5 * HOUR), (at(10, 12, 9, 15), 9 * HOUR)):
        back = calendar.subtract_working_seconds(start, seconds)
        assert calendar.working_seconds_between(back, start) == seconds


def test_the_result_is_an_aware_utc_moment():
    result = get_calendar().add_working_seconds(at(11, 23, 9), HOUR)
    assert result.utcoffset().total_seconds() == 0
    assert result == datetime(2026, 11, 23, 2, 0, tzinfo=ZoneInfo("UTC"))


def test_negative_or_naive_input_is_refused():
    calendar = get_calendar()
    with pytest.raises(ValueError, match="negative"):
        calendar.add_working_seconds(at(11, 23), -1)
    with pytest.raises(ValueError, match="aware"):
        calendar.add_working_seconds(datetime(2026, 11, 23, 9), 1)
    with pytest.raises(ValueError, match="negative"):
        calendar.subtract_working_seconds(at(11, 23), -1)
    with pytest.raises(ValueError, match="aware"):
        calendar.subtract_working_seconds(datetime(2026, 11, 23, 9), 1)


def test_working_hours_come_from_settings(settings):
    settings.WORKING_HOURS = (time(8, 30), time(12, 0))
    calendar = get_calendar()
    assert calendar.day_seconds == int(3.5 * HOUR)
    assert later(at(11, 23, 8, 30), 4 * HOUR) == at(11, 24, 9)


def test_working_hours_are_in_the_configured_time_zone(settings):
    settings.TIME_ZONE = "UTC"
    start = datetime(2026, 11, 23, 16, tzinfo=ZoneInfo("UTC"))
    assert get_calendar().add_working_seconds(start, 2 * HOUR) == datetime(
        2026, 11, 24, 10, tzinfo=ZoneInfo("UTC")
    )


@pytest.mark.parametrize(
    ("raw", "hours"),
    [
        ("09:00-17:00", (time(9), time(17))),
        (" 8:30 - 17:30 ", (time(8, 30), time(17, 30))),
        ("09:00–17:00", (time(9), time(17))),  # as SPEC §4 prints the default
        ("09:00~12:00", (time(9), time(12))),
    ],
)
def test_working_hours_are_read_as_people_write_them(raw, hours):
    assert parse_working_hours(raw) == hours


@pytest.mark.parametrize(
    "raw",
    [
        "9-5",
        "09:00",
        "nine to five",
        "17:00-09:00",
        "09:00-09:00",
        # The hours are read in TIME_ZONE: an offset would be dropped without a word.
        "09:00+00:00-17:00+00:00",
        "09:00-17:00+08:00",
        "24:00-25:00",
    ],
)
def test_working_hours_that_do_not_parse_are_refused(raw):
    with pytest.raises(ImproperlyConfigured, match="WORKING_HOURS"):
        parse_working_hours(raw)


# A government office's day: 08:30-12:00, a midday break (午休), 14:00-17:30.
MIDDAY_BREAK = ((time(8, 30), time(12)), (time(14), time(17, 30)))


@pytest.mark.parametrize(
    ("raw", "hours"),
    [
        ("08:30-12:00,14:00-17:30", MIDDAY_BREAK),
        (" 8:30 - 12:00 , 14:00 - 17:30 ", MIDDAY_BREAK),
        ("08:30–12:00，14:00–17:30", MIDDAY_BREAK),
        ("08:30-12:00、14:00-17:30", MIDDAY_BREAK),
        ("08:30~12:00；14:00~17:30", MIDDAY_BREAK),
        ("08:30-12:00; 14:00-17:30", MIDDAY_BREAK),
        # Periods may touch: the second one begins where the first ends.
        (
            "08:00-10:00,10:00-12:00,13:00-17:00",
            ((time(8), time(10)), (time(10), time(12)), (time(13), time(17))),
        ),
    ],
)
def test_working_hours_with_a_midday_break_are_read_as_people_write_them(raw, hours):
    assert parse_working_hours(raw) == hours


@pytest.mark.parametrize(
    "raw",
    [
        "14:00-17:30,08:30-12:00",  # out of order
        "08:30-12:00,11:00-17:30",  # overlapping
        "08:30-17:30,12:00-14:00",  # one inside the other
    ],
)
def test_working_hours_periods_out_of_order_or_overlapping_are_refused(raw):
    with pytest.raises(ImproperlyConfigured) as refused:
        parse_working_hours(raw)
    assert str(refused.value) == (
        f"WORKING_HOURS={raw!r}: the periods must be in order and must not overlap."
    )


@pytest.mark.parametrize(
    "raw", ["08:30-12:00,", "08:30-12:00,,14:00-17:30", "08:30-12:00 14:00-17:30"]
)
def test_a_malformed_list_of_periods_is_refused_with_an_example_of_one(raw):
    with pytest.raises(ImproperlyConfigured, match="WORKING_HOURS=") as refused:
        parse_working_hours(raw)
    assert "does not parse" in str(refused.value)
    assert "e.g. 08:30-12:00,14:00-17:30" in str(refused.value)


def test_a_deadline_given_before_the_midday_break_resumes_after_it(settings):
    settings.WORKING_HOURS = MIDDAY_BREAK
    assert later(at(11, 23, 11, 30), 2 * HOUR) == at(11, 23, 15, 30)
    # Ending exactly at the break is the break, not the afternoon's opening.
    assert later(at(11, 23, 11, 30), HOUR / 2) == at(11, 23, 12)
    # Counted from inside the break, time starts when the afternoon opens.
    assert later(at(11, 23, 12, 30), HOUR) == at(11, 23, 15)
    assert later(at(11, 23, 12), 0) == at(11, 23, 14)


def test_the_midday_break_is_no_working_time(settings):
    settings.WORKING_HOURS = MIDDAY_BREAK
    calendar = get_calendar()
    assert calendar.working_seconds_between(at(11, 23, 11), at(11, 23, 15)) == 2 * HOUR
    assert calendar.working_seconds_between(at(11, 23, 15), at(11, 23, 11)) == -2 * HOUR
    assert calendar.working_seconds_between(at(11, 23, 12), at(11, 23, 14)) == 0


def test_a_day_with_a_midday_break_is_as_long_as_its_periods(settings):
    settings.WORKING_HOURS = MIDDAY_BREAK
    assert get_calendar().day_seconds == 7 * HOUR
    assert working_day_seconds() == 7 * HOUR


def test_working_time_with_a_midday_break_runs_across_nights_and_weekends(settings):
    settings.WORKING_HOURS = MIDDAY_BREAK
    calendar = get_calendar()
    assert later(at(11, 23, 18), HOUR) == at(11, 24, 9, 30)  # Monday evening to Tuesday
    assert later(at(11, 20, 16, 30), 2 * HOUR) == at(11, 23, 9, 30)  # Friday to Monday
    # Two working days of 7 h from Friday 11:00: 4.5 h Friday, 7 h Monday, 2.5 h Tuesday.
    assert later(at(11, 20, 11), 2 * calendar.day_seconds) == at(11, 24, 11)
    assert calendar.working_seconds_between(at(11, 20, 11), at(11, 24, 11)) == 14 * HOUR


def test_subtracting_working_time_walks_back_over_the_midday_break(settings):
    settings.WORKING_HOURS = MIDDAY_BREAK
    assert earlier(at(11, 23, 14, 30), HOUR) == at(11, 23, 11, 30)
    # Back to exactly the afternoon's opening: the break's start, as a deadline ends there.
    assert earlier(at(11, 23, 15), HOUR) == at(11, 23, 12)
    assert earlier(at(11, 23, 9), 2 * HOUR) == at(11, 20, 16)  # and over the weekend
    calendar = get_calendar()
    for start, seconds in ((at(11, 24, 15), 9 * HOUR), (at(11, 23, 13), 20 * HOUR)):
        back = calendar.subtract_working_seconds(start, seconds)
        assert calendar.working_seconds_between(back, start) == seconds


def django_started_with(working_hours: str, script: str = "") -> subprocess.CompletedProcess:
    """A fresh Python process that starts the project with `WORKING_HOURS` set, as a
    deployment reads it from the environment, then runs `script`."""
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {script}"],
        cwd=Path(__file__).resolve().parents[2],
        env={
            **os.environ,
            "WORKING_HOURS": working_hours,
            "DJANGO_SETTINGS_MODULE": "governance.settings",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_project_does_not_start_with_unparseable_working_hours():
    completed = django_started_with("nine to five")
    assert completed.returncode != 0
    assert "ImproperlyConfigured" in completed.stderr
    assert "WORKING_HOURS='nine to five' does not parse" in completed.stderr


def test_the_project_reads_working_hours_with_a_break_from_the_environment():
    completed = django_started_with(
        "08:30-12:00，14:00-17:30",
        "from departments.calendar import working_day_seconds; print(working_day_seconds())",
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == str(7 * HOUR)


@pytest.mark.parametrize("raw", ["nan", "inf", "1e400"])
def test_a_pool_limit_that_is_no_finite_number_is_refused(raw, monkeypatch):
    # NaN passed "greater than zero" and then failed every report into the pool.
    monkeypatch.setenv("FALLBACK_DISPATCH_HOURS", raw)
    with pytest.raises(ImproperlyConfigured, match="FALLBACK_DISPATCH_HOURS"):
        env_positive_float("FALLBACK_DISPATCH_HOURS", "4")


@pytest.mark.parametrize("raw", ["0.0001", "1e300"])
def test_a_pool_limit_no_deadline_can_be_counted_with_is_refused(raw, monkeypatch):
    # Less than a second of working time (0.0001 h) or more than any date can hold (1e300 h)
    # passed "greater than zero", and then every report into the fallback pool failed.
    from governance.settings import env_hours_limit

    monkeypatch.setenv("FALLBACK_DISPATCH_HOURS", raw)
    with pytest.raises(ImproperlyConfigured) as refused:
        env_hours_limit("FALLBACK_DISPATCH_HOURS", 4)
    assert f"FALLBACK_DISPATCH_HOURS={raw!r}" in str(refused.value)
    assert "between 0.01 and 99999.99" in str(refused.value)


def test_the_pool_limit_is_checked_as_the_process_starts():
    completed = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "FALLBACK_DISPATCH_HOURS": "1e300"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode != 0
    assert "FALLBACK_DISPATCH_HOURS='1e300'" in completed.stderr


@pytest.mark.parametrize(("raw", "hours"), [("0.01", 0.01), ("2.5", 2.5), ("99999.99", 99999.99)])
def test_a_pool_limit_within_a_categorys_bounds_is_read(raw, hours, monkeypatch):
    from governance.settings import env_hours_limit

    monkeypatch.setenv("FALLBACK_DISPATCH_HOURS", raw)
    assert env_hours_limit("FALLBACK_DISPATCH_HOURS", 4) == hours
