"""A release of the calendar library that learns a year (chinesecalendar adds each once the
State Council publishes it, around November) moves the running deadlines across that
year's holidays and make-up days, counted until then by the week, on the first `migrate`
run with it (departments/signals.py), as if an administrator had entered them."""

from datetime import date

import chinese_calendar
import pytest
from django.core.management import call_command
from django.urls import reverse

from cases.services import workflow
from departments import calendar as working_calendar
from departments.models import CalendarChange, CalendarLibraryYear, Holiday
from departments.signals import follow_the_years_the_library_learnt
from tests.calendar_years import UNKNOWN_YEAR
from tests.cases.test_calendar_changes import at, rungs, travel


@pytest.fixture
def new_release(monkeypatch):
    """Makes the library as a release that knows UNKNOWN_YEAR would be: Saturday 6 and
    Monday 8 February public holidays, Saturday 13 February a make-up working day."""

    def learn():
        for day, name in ((6, "Spring Festival"), (8, "Spring Festival")):
            monkeypatch.setitem(chinese_calendar.holidays, date(UNKNOWN_YEAR, 2, day), name)
        monkeypatch.setitem(chinese_calendar.workdays, date(UNKNOWN_YEAR, 2, 13), "Spring Festival")
        learnt = working_calendar.library_years() | {UNKNOWN_YEAR}
        monkeypatch.setattr(working_calendar, "_library_years", learnt)
        monkeypatch.setattr(working_calendar, "_cached", None)

    return learn


@pytest.fixture
def accepted(report, cast, world):
    """Accepted on Thursday 4 February at 10:00 of a year nobody knows (weekends only): an
    environment case's 3 working days to resolve end on Tuesday 9 February at 10:00."""
    with travel(at(2, 4, 10)):
        case = workflow.case_accept(case=report(category=world.environment), actor=cast.liaison)
    assert rungs([case])[0][0] == at(2, 9, 10)
    return case


def test_the_first_migrate_on_a_release_that_learnt_a_year_moves_the_deadlines(
    accepted, new_release, caplog, client, cast
):
    new_release()
    with travel(at(2, 4, 17)):
        call_command("migrate", verbosity=0)
    assert (
        f"The calendar library now knows {UNKNOWN_YEAR}: the running deadlines across its "
        "holidays and make-up days moved: 1 case(s)." in caplog.text
    )
    # 17 working hours were left on Thursday evening: Friday 8, Monday off, Tuesday 8, and
    # the last on Wednesday.
    assert rungs([accepted])[0][0] == at(2, 10, 10)
    change = CalendarChange.objects.get()
    # The days the library counts otherwise than the week, as the week counted them.
    assert change.days_before() == {
        date(UNKNOWN_YEAR, 2, 8): Holiday.Kind.WORKDAY,
        date(UNKNOWN_YEAR, 2, 13): Holiday.Kind.HOLIDAY,
    }
    assert (change.followed_at, change.cases_moved) == (at(2, 4, 17), 1)
    assert CalendarLibraryYear.objects.filter(year=UNKNOWN_YEAR).exists()
    # The administrators' list of calendar changes says where this one came from.
    client.force_login(cast.admin)
    page = client.get(reverse("admin:departments_calendarchange_changelist"))
    assert "a new year of the calendar library" in page.text
    assert "holiday entries" not in page.text

    call_command("migrate", verbosity=0)  # the next deploy: nothing more to follow
    assert CalendarChange.objects.count() == 1
    assert rungs([accepted])[0][0] == at(2, 10, 10)


def test_until_migrate_follows_the_new_year_the_calendar_counts_it_by_the_week(report, new_release):
    """Upgraded and restarted before `migrate`: a clock placed meanwhile on the new
    release's holidays would be moved across them a second time by the migrate."""
    new_release()
    with travel(at(2, 5, 16)):
        case = report()  # 2 working hours to accept: Monday 10:00, as the week counts
    assert case.due_at == at(2, 8, 10)
    with travel(at(2, 5, 17)):
        call_command("migrate", verbosity=0)
    assert rungs([case])[0][0] == at(2, 9, 10)  # the hour left, after Monday off: once
    with travel(at(2, 5, 16)):
        assert report().due_at == at(2, 9, 10)  # the library's days, from now on


def test_days_entered_by_an_administrator_stay_theirs_and_an_older_release_records_nothing(
    accepted, new_release, monkeypatch
):
    with travel(at(2, 4, 11)):
        Holiday.objects.create(
            date=date(UNKNOWN_YEAR, 2, 8), kind=Holiday.Kind.WORKDAY, name="调休"
        )
    new_release()
    with travel(at(2, 4, 17)):
        learnt, moved, later = follow_the_years_the_library_learnt()
    # Monday stays worked, as entered; only the make-up Saturday, after every rung, changed.
    assert (learnt, moved, later) == ([UNKNOWN_YEAR], set(), False)
    assert CalendarChange.objects.latest("pk").days_before() == {
        date(UNKNOWN_YEAR, 2, 13): Holiday.Kind.HOLIDAY
    }
    assert rungs([accepted])[0][0] == at(2, 9, 10)

    monkeypatch.undo()  # a process still on the release before, in a rolling deploy
    assert UNKNOWN_YEAR not in working_calendar.library_years()
    assert follow_the_years_the_library_learnt() == ([], set(), False)
    assert CalendarChange.objects.count() == 2  # the entry's and the library's
    assert CalendarLibraryYear.objects.filter(year=UNKNOWN_YEAR).exists()


def test_a_database_without_a_record_of_the_years_takes_the_librarys_as_followed(db):
    """As after a flush: the deadlines there were counted on whatever the library knew."""
    CalendarLibraryYear.objects.all().delete()
    assert follow_the_years_the_library_learnt() == ([], set(), False)
    years = set(CalendarLibraryYear.objects.values_list("year", flat=True))
    assert years == working_calendar.library_years()
    assert not CalendarChange.objects.exists()


def test_a_worker_on_the_older_release_leaves_the_move_to_one_on_the_newer(
    accepted, new_release, monkeypatch, caplog
):
    """Too many deadlines for the migrate to move, they are left to the worker; a worker
    still on the release before would move them on a calendar without the new year's
    holidays, and mark the change followed."""
    from cases.services import calendar_changes

    new_release()
    monkeypatch.setattr(calendar_changes, "INLINE_LIMIT", 0)
    with travel(at(2, 4, 17)):
        assert follow_the_years_the_library_learnt()[2] is True  # left for later
    change = CalendarChange.objects.get()

    monkeypatch.undo()  # the worker has not been restarted on the new release
    with travel(at(2, 4, 18)):
        assert calendar_changes.follow_calendar_changes() == 0
    assert f"does not know {UNKNOWN_YEAR}, which the database follows" in caplog.text
    change.refresh_from_db()
    assert change.followed_at is None and rungs([accepted])[0][0] == at(2, 9, 10)

    new_release()  # restarted
    with travel(at(2, 4, 18)):
        assert calendar_changes.follow_calendar_changes() == 1
    assert rungs([accepted])[0][0] == at(2, 10, 10)
