"""A run of holidays entered at once in the admin (the Spring Festival): one entry a day,
in one transaction, the running deadlines moved once for all the days and as far as the
days entered one by one would move them."""

import pytest
import time_machine
from django.urls import reverse

from cases.models import Case
from cases.services import workflow
from departments.models import Holiday
from tests.calendar_years import UNKNOWN_YEAR, unknown_year_date
from tests.cases import test_deadlines
from tests.cases.test_deadlines import clock

ADD_RUN = "admin:departments_holiday_add_run"


def at(month, day, hour, minute=0):
    # A year unknown to the library: weekends only, until the runs entered here.
    return test_deadlines.at(month, day, hour, minute, year=UNKNOWN_YEAR)


def told(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


@pytest.fixture
def accepted(report, cast, world):
    """A year unknown to the library: weekends only. Accepted Thursday 4 Feb at 10:00, an
    environment case has 3 working days: due Tuesday 9 Feb 10:00, level 3 Friday 12 Feb."""
    with time_machine.travel(at(2, 4, 10), tick=False):
        case = workflow.case_accept(case=report(category=world.environment), actor=cast.liaison)
    assert clock(case)[2] == at(2, 9, 10)
    return case


def enter_run(client, cast, first, last=None, **fields):
    """The first and last days as (month, day); without a last day, its field left blank."""
    days = {"first": unknown_year_date(*first), "last": unknown_year_date(*last) if last else ""}
    with time_machine.travel(at(2, 4, 17), tick=False):
        client.force_login(cast.admin)  # a session begun today would have expired by then
        return client.post(reverse(ADD_RUN), {**days, **fields}, follow=True)


def test_a_run_moves_the_deadlines_as_far_as_its_days_entered_one_by_one(client, cast, accepted):
    weekends_only = clock(accepted)
    response = enter_run(client, cast, (2, 8), (2, 12), kind="holiday", name="春节")
    assert response.status_code == 200
    assert list(Holiday.objects.values_list("date__day", "kind", "name")) == [
        (day, "holiday", "春节") for day in range(8, 13)
    ]
    run = clock(accepted)
    # 17 working hours were left on Thursday evening: Friday 8, the week off, Monday 15th
    # 8, and the last hour on Tuesday 16 February.
    assert run[2] == at(2, 16, 10)
    with time_machine.travel(at(2, 4, 17), tick=False):
        Holiday.objects.all().delete()
        assert clock(accepted) == weekends_only
        for day in range(8, 13):
            Holiday.objects.create(date=at(2, day, 0).date(), kind="holiday")
    assert clock(accepted) == run
    assert (
        f"Added 5 entries. The deadline or escalation times of 1 open case moved with the "
        f"calendar: {accepted.number}." in told(response)
    )


@pytest.fixture
def moves(monkeypatch) -> list:
    """The first day changed of each move of the running clocks, as they happen."""
    from cases.services import calendar_changes

    moves = []
    follow = calendar_changes.clocks_follow_calendar

    def counted(**kwargs):
        moves.append(kwargs["changed"])
        return follow(**kwargs)

    monkeypatch.setattr(calendar_changes, "clocks_follow_calendar", counted)
    return moves


def test_a_run_moves_the_running_clocks_once(client, cast, accepted, moves):
    version = Case.objects.get(pk=accepted.pk).version
    enter_run(client, cast, (2, 8), (2, 12), kind="holiday", name="春节")
    assert moves == [at(2, 8, 0).date()]
    # A form opened before is stale once, not once a day.
    assert Case.objects.get(pk=accepted.pk).version == version + 1


def test_days_with_an_entry_take_the_runs_kind_and_name(client, cast, accepted):
    Holiday.objects.create(date=at(2, 10, 0).date(), kind="workday", name="调休")
    Holiday.objects.create(date=at(2, 11, 0).date(), kind="holiday", name="除夕")
    Holiday.objects.create(date=at(2, 12, 0).date(), kind="holiday", name="春节")
    response = enter_run(client, cast, (2, 9), (2, 12), kind="holiday", name="春节")
    assert list(Holiday.objects.values_list("date__day", "kind", "name")) == [
        (day, "holiday", "春节") for day in range(9, 13)
    ]
    assert any(
        message.startswith(
            f"Added 1 entry. Changed 2 existing entries: {unknown_year_date(2, 10)}, "
            f"{unknown_year_date(2, 11)}."
        )
        for message in told(response)
    ), told(response)
    # Thursday 7 h, Friday 8 h, Monday 8 h, Tuesday to Friday off: the last hour on the 15th.
    assert clock(accepted)[2] == at(2, 15, 10)


def test_a_run_said_in_chinese(client, cast):
    Holiday.objects.create(date=at(2, 6, 0).date(), kind="holiday")
    with time_machine.travel(at(2, 4, 17), tick=False):
        client.force_login(cast.admin)
        page = client.get(reverse(ADD_RUN), HTTP_ACCEPT_LANGUAGE="zh-hans")
        response = client.post(
            reverse(ADD_RUN),
            {
                "first": unknown_year_date(2, 6),
                "last": unknown_year_date(2, 7),
                "kind": "workday",
                "name": "调休",
            },
            follow=True,
            HTTP_ACCEPT_LANGUAGE="zh-hans",
        )
    assert "批量添加" in page.text and "第一天" in page.text
    assert f"已添加 1 条记录。已修改 1 条已有记录：{unknown_year_date(2, 6)}。" in told(response)


def test_the_last_day_defaults_to_the_first(client, cast):
    enter_run(client, cast, (2, 8), kind="workday", name="调休")
    assert list(Holiday.objects.values_list("date__day", "kind")) == [(8, "workday")]


@pytest.mark.parametrize(
    ("first", "last", "error"),
    [
        ((2, 12), (2, 8), "The last day is before the first day."),
        ((1, 1), (3, 4), "At most 62 days at once: enter a longer run in parts."),
    ],
)
def test_a_run_backwards_or_too_long_is_refused_and_saves_nothing(
    client, cast, accepted, first, last, error
):
    before = clock(accepted)
    response = enter_run(client, cast, first, last, kind="holiday", name="春节")
    assert response.status_code == 200
    assert response.context["form"].errors == {"last": [error]}
    assert not Holiday.objects.exists() and clock(accepted) == before


def test_a_run_of_62_days_is_entered(client, cast):
    enter_run(client, cast, (1, 1), (3, 3), kind="holiday", name="长假")
    assert Holiday.objects.count() == 62


def test_the_holiday_list_offers_several_days_to_those_who_may_add(client, cast):
    client.force_login(cast.admin)
    page = client.get(reverse("admin:departments_holiday_changelist"))
    assert f'href="{reverse(ADD_RUN)}"' in page.text
    assert client.get(reverse(ADD_RUN)).status_code == 200


def test_only_those_who_may_add_holidays_enter_a_run(client, cast):
    client.force_login(cast.liaison)  # staff, without add_holiday
    assert client.get(reverse(ADD_RUN)).status_code == 403
    response = client.post(
        reverse(ADD_RUN),
        {"first": unknown_year_date(2, 8), "last": unknown_year_date(2, 12), "kind": "holiday"},
    )
    assert response.status_code == 403 and not Holiday.objects.exists()


def test_entries_deleted_together_move_the_running_clocks_once(client, cast, accepted, moves):
    weekends_only = clock(accepted)
    enter_run(client, cast, (2, 8), (2, 12), kind="holiday", name="春节")
    version = Case.objects.get(pk=accepted.pk).version
    moves.clear()
    with time_machine.travel(at(2, 4, 17), tick=False):
        response = client.post(
            reverse("admin:departments_holiday_changelist"),
            {
                "action": "delete_selected",
                "_selected_action": list(Holiday.objects.values_list("pk", flat=True)),
                "post": "yes",
            },
            follow=True,
        )
    assert not Holiday.objects.exists()
    assert moves == [at(2, 8, 0).date()]
    assert Case.objects.get(pk=accepted.pk).version == version + 1
    assert clock(accepted) == weekends_only
    assert (
        f"The deadline or escalation times of 1 open case moved with the calendar: "
        f"{accepted.number}." in told(response)
    ), told(response)
