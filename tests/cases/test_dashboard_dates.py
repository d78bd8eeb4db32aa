"""/dashboard/'s period: dates it cannot use (unreadable, reversed, at the ends of the
calendar) are refused with a message on the page, as on /cases/, never a server error."""

from datetime import date, timedelta

import pytest
from django.utils import timezone

from cases.selectors.dashboard import Period

REVERSED = {"date_from": "2026-12-10", "date_to": "2026-12-01"}


def default_period() -> Period:
    today = timezone.localdate()
    return Period(today - timedelta(days=29), today)


def test_a_reversed_period_is_refused_as_on_the_case_list(client, cast):
    client.force_login(cast.supervisor)
    response = client.get("/dashboard/", REVERSED)
    assert response.status_code == 200
    assert response.context["form"].errors == {
        "date_to": ["The end date is before the start date."]
    }
    assert "The end date is before the start date." in response.content.decode()
    assert response.context["period"] == default_period()
    assert "Dec. 10 to Dec. 1" not in response.content.decode()
    # The same words and status as /cases/ for the same dates.
    cases = client.get("/cases/", REVERSED)
    assert cases.status_code == 200
    assert "The end date is before the start date." in cases.content.decode()


def test_a_start_alone_runs_to_today_and_a_future_one_is_never_reversed(client, cast):
    client.force_login(cast.supervisor)
    today = timezone.localdate()
    past = client.get("/dashboard/", {"date_from": (today - timedelta(days=5)).isoformat()})
    assert past.context["period"] == Period(today - timedelta(days=5), today)
    future = today + timedelta(days=16)
    ahead = client.get("/dashboard/", {"date_from": future.isoformat()})
    assert ahead.context["period"] == Period(future, future)


@pytest.mark.parametrize(
    "dates",
    [
        {"date_from": "0001-01-01"},
        {"date_to": "9999-12-31"},
        {"date_to": "0001-01-01"},
        {"date_from": "0001-01-01", "date_to": "9999-12-31"},
        {"date_from": "1999-12-31"},
        {"date_to": "2100-01-01"},
    ],
)
def test_a_date_at_the_ends_of_the_calendar_is_refused_not_a_server_error(client, cast, dates):
    client.force_login(cast.district_supervisor)
    response = client.get("/dashboard/", dates)
    assert response.status_code == 200
    form = response.context["form"]
    assert set(form.errors) == set(dates)
    for errors in form.errors.values():
        assert errors[0].startswith("Ensure this value is")
        assert errors[0] in response.content.decode()
    assert response.context["period"] == default_period()


def test_an_unreadable_date_is_refused(client, cast):
    client.force_login(cast.supervisor)
    response = client.get("/dashboard/", {"date_from": "garbage"})
    assert response.status_code == 200
    assert "Enter a valid date." in response.content.decode()
    assert response.context["period"] == default_period()


def test_the_first_and_last_days_allowed_are_shown(client, cast):
    client.force_login(cast.district_supervisor)
    response = client.get("/dashboard/", {"date_from": "2000-01-01", "date_to": "2099-12-31"})
    assert response.status_code == 200
    assert not response.context["form"].errors
    assert response.context["period"] == Period(date(2000, 1, 1), date(2099, 12, 31))


def test_refused_dates_keep_the_chosen_township(client, cast, world, report):
    report()
    report(reporter=cast.south_caseworker, cell=world.s1)
    client.force_login(cast.district_supervisor)
    response = client.get("/dashboard/", {**REVERSED, "township": world.south.pk})
    assert response.context["form"].errors
    assert response.context["figures"]["totals"]["total"] == 1


def test_an_unknown_area_keeps_the_dates_that_were_right(client, cast):
    client.force_login(cast.district_supervisor)
    today = timezone.localdate()
    start = today - timedelta(days=5)
    response = client.get("/dashboard/", {"date_from": start.isoformat(), "township": "NOWHERE"})
    assert response.status_code == 200
    assert "township" in response.context["form"].errors
    assert response.context["period"] == Period(start, today)


def test_the_date_boxes_show_the_period_the_page_shows(client, cast):
    """Opened without dates, the boxes hold the default period, to be moved from there."""
    client.force_login(cast.supervisor)
    page = client.get("/dashboard/").content.decode()
    period = default_period()
    assert f'name="date_from" value="{period.start.isoformat()}"' in page
    assert f'name="date_to" value="{period.end.isoformat()}"' in page


def test_a_date_box_left_empty_shows_the_day_it_stood_for(client, cast):
    """A start alone runs to today, or is a period of that one day when in the future."""
    client.force_login(cast.supervisor)
    start = timezone.localdate() + timedelta(days=14)
    page = client.get("/dashboard/", {"date_from": start.isoformat()}).content.decode()
    assert f'name="date_to" value="{start.isoformat()}"' in page
