"""A calendar change that moves more running deadlines than a request may (a holiday at
short notice over a district's open cases) is followed after its commit, in batches
(cases/services/calendar_changes.py): the clocks end where the change would have put them
at once, a clock placed on the new calendar meanwhile is not moved twice, the changes are
followed in their order, the sweep follows a waiting change before it compares deadlines,
a transition that carries a clock's time left on follows it for its case first, and the
admin says what is happening."""

from datetime import datetime
from decimal import Decimal
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from django.urls import reverse

from cases.models import Case, Escalation
from cases.services import calendar_changes, extensions, workflow
from cases.services.calendar_changes import follow_calendar_changes
from cases.services.escalation import escalation_sweep
from departments.models import CalendarChange, Holiday
from tests.brokers import celery_broker
from tests.calendar_years import UNKNOWN_YEAR, unknown_year_date

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(month, day, hour, minute=0):
    # A year the calendar library does not know, so weekends only until an admin says.
    return datetime(UNKNOWN_YEAR, month, day, hour, minute, tzinfo=SHANGHAI)


def travel(moment):
    return time_machine.travel(moment, tick=False)


def rungs(cases):
    return [
        (case.due_at, case.escalate_3_at)
        for case in Case.objects.filter(pk__in=[c.pk for c in cases]).order_by("pk")
    ]


@pytest.fixture
def friday(report):
    """Two cases reported on Friday 5 Feb at 16:00: 2 working hours to accept, due on
    Monday at 10:00, the last rung on Monday at 12:00."""
    with travel(at(2, 5, 16)):
        cases = [report(), report()]
    assert rungs(cases) == [(at(2, 8, 10), at(2, 8, 12))] * 2
    return cases


@pytest.fixture
def small_requests(monkeypatch):
    """A request moves no clock itself: every change is left for later."""
    monkeypatch.setattr(calendar_changes, "INLINE_LIMIT", 0)


def add_day_off(month, day):
    return Holiday.objects.create(date=at(month, day, 0).date(), kind=Holiday.Kind.HOLIDAY)


def test_a_change_too_large_for_the_request_moves_the_clocks_once_followed(friday, small_requests):
    versions = [case.version for case in Case.objects.filter(pk__in=[c.pk for c in friday])]
    with travel(at(2, 5, 17)):
        entry = add_day_off(2, 8)
    assert (entry.deadlines_moving_later, entry.cases_moved) == (True, set())
    assert rungs(friday) == [(at(2, 8, 10), at(2, 8, 12))] * 2
    change = CalendarChange.objects.get()
    assert change.followed_at is None
    # Followed late on Monday, past the old deadlines: measured from the change, the time
    # left on Friday evening is kept, not lost to the delay.
    with travel(at(2, 8, 11)):
        assert follow_calendar_changes() == 1
    assert rungs(friday) == [(at(2, 9, 10), at(2, 9, 12))] * 2
    change.refresh_from_db()
    assert (change.followed_at, change.cases_moved) == (at(2, 8, 11), 2)
    moved = Case.objects.filter(pk__in=[c.pk for c in friday]).order_by("pk")
    assert [case.version for case in moved] == [version + 1 for version in versions]
    assert {case.calendar_revision for case in moved} == {change.pk}
    assert follow_calendar_changes() == 0  # nothing waits any more


def test_a_clock_placed_on_the_new_calendar_meanwhile_is_not_moved_again(
    report, friday, small_requests
):
    with travel(at(2, 5, 17)):
        add_day_off(2, 8)
        # Reported after the change, counted on the calendar with Monday off: Friday's
        # working day is over, so two hours on Tuesday.
        meanwhile = report()
    assert meanwhile.due_at == at(2, 9, 11)
    follow_calendar_changes()
    assert rungs([meanwhile]) == [(at(2, 9, 11), at(2, 9, 13))]
    assert rungs(friday) == [(at(2, 9, 10), at(2, 9, 12))] * 2


def test_waiting_changes_are_followed_in_their_order(friday, small_requests, monkeypatch):
    with travel(at(2, 5, 17)):
        monday = add_day_off(2, 8)
        # Small enough for a request, but a change waits before it: it waits too, or the
        # clocks not yet moved across Monday would be counted on the wrong calendar.
        monkeypatch.setattr(calendar_changes, "INLINE_LIMIT", 20_000)
        tuesday = add_day_off(2, 9)
        assert tuesday.deadlines_moving_later
        monday.delete()
    assert CalendarChange.objects.filter(followed_at=None).count() == 3
    assert follow_calendar_changes() == 3
    # Monday back on, Tuesday off: 1 h on Friday and 1 h on Monday, as before.
    assert rungs(friday) == [(at(2, 8, 10), at(2, 8, 12))] * 2
    with travel(at(2, 5, 17)):
        add_day_off(2, 8)  # nothing waits now: a small change moves its clocks at once
    assert CalendarChange.objects.filter(followed_at=None).count() == 0
    assert rungs(friday) == [(at(2, 10, 10), at(2, 10, 12))] * 2


def test_the_sweep_follows_a_waiting_change_before_it_compares_deadlines(friday, small_requests):
    with travel(at(2, 5, 17)):
        add_day_off(2, 8)
    # Monday 12:30 would be past every rung of the old deadlines.
    escalation_sweep(now=at(2, 8, 12, 30))
    assert not Escalation.objects.filter(case__in=friday).exists()
    assert rungs(friday) == [(at(2, 9, 10), at(2, 9, 12))] * 2
    escalation_sweep(now=at(2, 9, 12, 30))
    # On the moved deadlines, once past them all: levels 1 to 3 (no reminder, too late).
    escalated = Escalation.objects.filter(case__in=friday).values_list("level", flat=True)
    assert sorted(escalated) == [1, 1, 2, 2, 3, 3]


def test_the_admin_says_the_deadlines_move_in_the_background_until_they_have(
    client, cast, friday, small_requests
):
    with travel(at(2, 5, 17)):
        client.force_login(cast.admin)
        response = client.post(
            reverse("admin:departments_holiday_add"),
            {"date": unknown_year_date(2, 8), "kind": "holiday", "name": "局部休"},
            follow=True,
        )
    told = [str(message) for message in response.context["messages"]]
    assert (
        "Many running deadlines cross these days: they are moving with the calendar in the "
        "background, and the escalation sweep waits for them." in told
    ), told
    assert any(message.startswith("The running deadlines are still moving") for message in told)
    follow_calendar_changes()
    response = client.get(reverse("admin:departments_holiday_changelist"))
    told = [str(message) for message in response.context["messages"]]
    assert not any("still moving" in message for message in told), told


def test_with_the_broker_down_the_change_commits_and_the_next_sweep_moves_the_clocks(
    friday, small_requests, django_capture_on_commit_callbacks, caplog
):
    with (
        celery_broker("redis://127.0.0.1:1/0"),  # nothing listens on port 1
        django_capture_on_commit_callbacks(execute=True) as queued,
        travel(at(2, 5, 17)),
    ):
        add_day_off(2, 8)
    assert len(queued) == 1
    assert "the next escalation sweep moves them" in caplog.text
    assert CalendarChange.objects.filter(followed_at=None).exists()
    escalation_sweep(now=at(2, 5, 17, 1))
    assert rungs(friday) == [(at(2, 9, 10), at(2, 9, 12))] * 2


def test_a_case_suspended_before_the_worker_keeps_the_time_the_change_left_it(
    friday, cast, small_requests
):
    case, other = friday
    with travel(at(2, 5, 17)):
        add_day_off(2, 8)
        # Its rungs still on Monday: counted on the calendar with Monday off, they would
        # leave it no time at all.
        workflow.case_suspend(case=case, actor=cast.supervisor, reason="待专项整治")
    case.refresh_from_db()
    assert (case.paused_remaining_seconds, case.paused_limit_seconds) == (3600, 7200)
    follow_calendar_changes()
    assert rungs([other]) == [(at(2, 9, 10), at(2, 9, 12))]
    with travel(at(2, 10, 9)):
        workflow.case_resume(case=case, actor=cast.supervisor)
    assert rungs([case]) == [(at(2, 10, 10), at(2, 10, 12))]


def test_an_extension_approved_before_the_worker_adds_to_the_deadline_the_change_gave(
    report, cast, small_requests
):
    with travel(at(2, 5, 16)):
        # Accepted: a day (8 working hours) to resolve, 1 on Friday and 7 on Monday.
        case = workflow.case_accept(case=report(), actor=cast.liaison)
        assert case.due_at == at(2, 8, 16)
        request = extensions.extension_request(
            case=case, actor=cast.liaison, reason="需要协调物业", extra_days=Decimal(1)
        )
    with travel(at(2, 5, 17)):
        add_day_off(2, 8)
        extensions.extension_decide(request=request, approve=True, actor=cast.supervisor)
    # 7 working hours left on Tuesday, then a day more: Wednesday at 16:00.
    assert rungs([case])[0][0] == at(2, 10, 16)


def test_a_change_that_cannot_be_followed_does_not_stop_the_sweep(
    friday, small_requests, monkeypatch, caplog
):
    with travel(at(2, 5, 17)):
        add_day_off(2, 8)

    def broken(change):
        raise RuntimeError("broken calendar")

    monkeypatch.setattr(calendar_changes, "follow_calendar_change", broken)
    escalation_sweep(now=at(2, 8, 12, 30))
    assert "Could not move the running deadlines with the calendar" in caplog.text
    # Compared as they stand: late for the old deadlines, rather than never again.
    assert Escalation.objects.filter(case__in=friday).exists()
    assert CalendarChange.objects.filter(followed_at=None).exists()


def test_a_dry_run_says_a_waiting_change_has_not_moved_the_deadlines_yet(friday, small_requests):
    with travel(at(2, 5, 17)):
        add_day_off(2, 8)
    out, err = StringIO(), StringIO()
    moment = at(2, 8, 12, 30).isoformat()
    call_command("escalate_overdue", "--dry-run", "--now", moment, stdout=out, stderr=err)
    assert "would escalate 6" in out.getvalue()  # levels 1 to 3 of both, on Monday
    assert "A calendar change has not moved the running deadlines yet" in err.getvalue()
    assert CalendarChange.objects.filter(followed_at=None).exists()  # a dry run changes nothing
    call_command("escalate_overdue", "--now", moment, stdout=out, stderr=err)
    assert not Escalation.objects.filter(case__in=friday).exists()


def test_administrators_find_each_calendar_change_and_the_cases_it_moved(
    client, cast, friday, small_requests
):
    url = reverse("admin:departments_calendarchange_changelist")
    with travel(at(2, 5, 17)):
        add_day_off(2, 8)
        client.force_login(cast.admin)
        assert "still moving" in client.get(url).content.decode()
        follow_calendar_changes()
        page = client.get(url)
        assert "still moving" not in page.content.decode()
        [change] = page.context["cl"].result_list
        assert (change.cases_moved, change.first_day) == (2, at(2, 8, 0).date())
        assert unknown_year_date(2, 8) in page.content.decode()
        assert "holiday entries" in page.content.decode()  # not the calendar library
        client.force_login(cast.liaison)  # the holidays are the administrators'
        assert client.get(url).status_code == 403
