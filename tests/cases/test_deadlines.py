"""The deadline clock of a case (SPEC §4): set by the transitions that start it, moved by
the ones that stop, pause and resume it, all in working time."""

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from cases.models import Case, DeadlineKind, State
from cases.services import deadlines, workflow
from departments.models import Category
from governance.settings import parse_working_hours
from tests.calendar_years import UNKNOWN_YEAR, unknown_year_date
from tests.conftest import correct_as_shown

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(month, day, hour, minute=0, year=2026):
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def clock(case):
    case.refresh_from_db()
    return (case.deadline_kind, case.remind_at, case.due_at, case.escalate_2_at, case.escalate_3_at)


@pytest.fixture
def monday(report):
    """A rubbish case (accept 2 h, resolve 1 day) reported Monday 23 Nov 2026 at 10:00."""
    with time_machine.travel(at(11, 23, 10), tick=False):
        return report()


def test_a_routed_case_gets_an_accept_clock_with_its_ladder(monday):
    assert monday.state == State.ASSIGNED
    assert clock(monday) == (
        DeadlineKind.ACCEPT,
        at(11, 23, 11, 30),  # reminder at 75 % of 2 h
        at(11, 23, 12),  # level 1 at the limit
        at(11, 23, 13),  # level 2 at 1.5×
        at(11, 23, 14),  # level 3 at 2×
    )
    assert monday.deadline_seq == 1


def test_a_fallback_case_gets_the_dispatch_clock_from_settings(report, world):
    with time_machine.travel(at(11, 23, 10), tick=False):
        case = report(category=world.stall)  # two lead rules: overlap
    assert case.state == State.FALLBACK
    assert clock(case) == (
        DeadlineKind.DISPATCH,
        at(11, 23, 13),
        at(11, 23, 14),  # FALLBACK_DISPATCH_HOURS = 4
        at(11, 23, 16),
        at(11, 24, 10),  # 8 working hours: the night is not counted
    )


def test_a_case_reported_on_friday_afternoon_is_due_on_monday(report, settings):
    settings.FALLBACK_DISPATCH_HOURS = 4
    with time_machine.travel(at(11, 20, 16), tick=False):
        case = report()
    assert case.due_at == at(11, 23, 10)


def test_a_case_reported_before_the_midday_break_is_due_after_it(report, settings):
    settings.WORKING_HOURS = parse_working_hours("08:30-12:00，14:00-17:30")
    with time_machine.travel(at(11, 23, 11, 30), tick=False):
        case = report()  # rubbish: 2 working hours to accept
    assert clock(case) == (
        DeadlineKind.ACCEPT,
        at(11, 23, 15),  # 1.5 h: half an hour before the break, an hour after it
        at(11, 23, 15, 30),
        at(11, 23, 16, 30),
        at(11, 23, 17, 30),
    )


def test_a_resolve_day_with_a_midday_break_is_seven_working_hours(report, cast, settings):
    settings.WORKING_HOURS = parse_working_hours("08:30-12:00,14:00-17:30")
    with time_machine.travel(at(11, 23, 10), tick=False):
        case = report()
    with time_machine.travel(at(11, 23, 15, 30), tick=False):
        workflow.case_accept(case=case, actor=cast.liaison)
    # 1 day: 2 h on Monday afternoon, 3.5 h on Tuesday morning, 1.5 h after its break.
    assert clock(case)[2] == at(11, 24, 15, 30)


def test_accepting_starts_a_fresh_resolve_clock_in_working_days(monday, cast):
    with time_machine.travel(at(11, 23, 11), tick=False):
        workflow.case_accept(case=monday, actor=cast.liaison)
    assert clock(monday) == (
        DeadlineKind.RESOLVE,
        at(11, 23, 17),  # 6 working hours = 75 % of one 8-hour day
        at(11, 24, 11),
        at(11, 24, 15),
        at(11, 25, 11),
    )
    assert monday.deadline_seq == 2
    assert monday.escalation_level == 0


def test_resolving_stops_the_clock(monday, cast):
    workflow.case_accept(case=monday, actor=cast.liaison)
    workflow.case_resolve(case=monday, actor=cast.liaison, note="已清理")
    assert clock(monday) == ("", None, None, None, None)


def test_cancelling_stops_the_clock(monday, cast):
    workflow.case_cancel(case=monday, actor=cast.dispatcher, reason="重复上报")
    assert clock(monday) == ("", None, None, None, None)


def test_returning_starts_a_fresh_dispatch_clock(monday, cast):
    with time_machine.travel(at(11, 23, 11), tick=False):
        workflow.case_return(case=monday, actor=cast.liaison, reason="不属于我局")
    assert clock(monday)[:3] == (DeadlineKind.DISPATCH, at(11, 23, 14), at(11, 23, 15))
    assert monday.deadline_seq == 2


def test_reopening_starts_a_fresh_resolve_clock(monday, cast):
    workflow.case_accept(case=monday, actor=cast.liaison)
    workflow.case_resolve(case=monday, actor=cast.liaison, note="已清理")
    with time_machine.travel(at(11, 25, 10), tick=False):
        workflow.case_reopen(case=monday, actor=cast.caseworker, reason="仍有垃圾")
    assert clock(monday)[:3] == (DeadlineKind.RESOLVE, at(11, 25, 16), at(11, 26, 10))
    assert monday.deadline_seq == 3


def test_suspending_stops_the_clock_and_resuming_restarts_it_with_the_time_left(monday, cast):
    with time_machine.travel(at(11, 23, 11), tick=False):  # 1 h of the 2 h left
        workflow.case_suspend(case=monday, actor=cast.supervisor, reason="待专项整治")
    monday.refresh_from_db()
    assert (monday.due_at, monday.escalate_2_at, monday.remind_at) == (None, None, None)
    assert monday.paused_remaining_seconds == 3600
    with time_machine.travel(at(11, 30, 16), tick=False):  # a week later
        workflow.case_resume(case=monday, actor=cast.supervisor)
    assert monday.state == State.ASSIGNED
    assert clock(monday) == (
        DeadlineKind.ACCEPT,
        at(11, 30, 16, 30),
        at(11, 30, 17),
        at(12, 1, 10),
        at(12, 1, 11),
    )
    # The same deadline resumed: escalations already sent for it are not repeated.
    assert monday.deadline_seq == 1
    assert monday.paused_remaining_seconds is None


def test_a_clock_resumed_after_a_correction_keeps_the_rungs_it_was_placed_with(monday, cast, world):
    """Corrected from rubbish (2 h to accept) to its parent (4 h), still for the same
    department: the running clock stays as it was, through a suspension too."""
    before = clock(monday)
    with time_machine.travel(at(11, 23, 10, 30), tick=False):
        correct_as_shown(
            monday,
            actor=cast.dispatcher,
            category=world.environment,
            cell=monday.cell,
        )
    assert clock(monday) == before
    with time_machine.travel(at(11, 23, 11), tick=False):  # 1 h of the 2 h left
        workflow.case_suspend(case=monday, actor=cast.supervisor, reason="待专项整治")
        workflow.case_resume(case=monday, actor=cast.supervisor)
    assert clock(monday) == before


def test_a_clock_resumed_past_its_reminder_keeps_the_reminder_behind_it(monday, cast):
    """Suspended with 20 minutes of 2 hours left, the reminder (at 75 %) already due: the
    resumed clock keeps the 20 minutes, and its reminder stays where it was, behind it."""
    with time_machine.travel(at(11, 23, 11, 40), tick=False):
        workflow.case_suspend(case=monday, actor=cast.supervisor, reason="待专项整治")
    with time_machine.travel(at(11, 24, 10), tick=False):
        workflow.case_resume(case=monday, actor=cast.supervisor)
    assert clock(monday) == (
        DeadlineKind.ACCEPT,
        at(11, 24, 9, 50),  # the reminder: 30 working minutes before the due moment
        at(11, 24, 10, 20),
        at(11, 24, 11, 20),
        at(11, 24, 12, 20),
    )
    assert monday.deadline_seq == 1


def test_a_case_suspended_while_overdue_is_as_overdue_when_resumed(monday, cast):
    with time_machine.travel(at(11, 23, 13, 30), tick=False):  # 1.5 h overdue
        workflow.case_suspend(case=monday, actor=cast.supervisor, reason="待专项整治")
    monday.refresh_from_db()
    assert monday.paused_remaining_seconds == -5400
    with time_machine.travel(at(11, 24, 10), tick=False):
        workflow.case_resume(case=monday, actor=cast.supervisor)
        assert monday.is_overdue  # not "due now, 0 hours left": the clock only stopped
    # 1.5 working hours before Tuesday 10:00 is Monday 16:30; the rungs keep their places.
    assert clock(monday) == (
        DeadlineKind.ACCEPT,
        at(11, 23, 16),
        at(11, 23, 16, 30),
        at(11, 24, 9, 30),  # already past level 2 (1 h after the limit)
        at(11, 24, 10, 30),
    )
    assert monday.deadline_seq == 1  # so the rungs already climbed are not climbed again


def test_a_category_with_a_zero_or_negative_limit_is_refused(world):
    for hours, days in ((Decimal("0"), Decimal("1")), (Decimal("2"), Decimal("-1"))):
        category = Category(code=f"BAD{days}", name="bad", accept_hours=hours, resolve_days=days)
        with pytest.raises(ValidationError):
            category.full_clean()
        with pytest.raises(IntegrityError), transaction.atomic():
            category.save()


def test_a_zero_limit_that_slipped_through_is_a_clear_error_not_an_instant_escalation(world):
    category = Category(code="ZERO", name="zero", accept_hours=Decimal("0"), resolve_days=1)
    case = Case(category=category)
    with pytest.raises(deadlines.DeadlineError, match="accept limit of category ZERO"):
        deadlines.limit_seconds(case, DeadlineKind.ACCEPT, deadlines.get_calendar())


def test_an_unclassified_case_uses_the_default_limits(report, cast, world):
    with time_machine.travel(at(11, 23, 10), tick=False):
        case = report(category=None)
    assert case.state == State.FALLBACK
    with time_machine.travel(at(11, 23, 10), tick=False):
        workflow.case_dispatch(case=case, actor=cast.dispatcher, lead=world.urban)
    assert clock(case)[2] == at(11, 24, 10)  # 8 working hours to accept


def test_a_holiday_added_in_the_admin_moves_the_clocks_running_across_it(report, cast):
    from departments.models import Holiday

    # A year the calendar library does not know: weekends only, until an admin says.
    with time_machine.travel(at(2, 5, 9, year=UNKNOWN_YEAR), tick=False):
        before = report()  # all its rungs on Friday
    with time_machine.travel(at(2, 5, 16, year=UNKNOWN_YEAR), tick=False):
        across = report()  # Friday 16:00 + 2 working hours: Monday 10:00
    assert across.due_at == at(2, 8, 10, year=UNKNOWN_YEAR)
    with time_machine.travel(at(2, 5, 17, year=UNKNOWN_YEAR), tick=False):
        holiday = Holiday.objects.create(date=at(2, 8, 0, year=UNKNOWN_YEAR).date(), kind="holiday")
        across.refresh_from_db()
        assert (across.due_at, across.escalate_3_at) == (
            at(2, 9, 10, year=UNKNOWN_YEAR),
            at(2, 9, 12, year=UNKNOWN_YEAR),
        )
        # Removed again, the deadline is back where it was.
        holiday.delete()
        across.refresh_from_db()
        assert across.due_at == at(2, 8, 10, year=UNKNOWN_YEAR)
    untouched = Case.objects.get(pk=before.pk)
    assert (untouched.due_at, untouched.version) == (before.due_at, before.version)


def test_a_holiday_moves_many_clocks_in_as_many_queries_as_few(report):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from departments.models import Holiday

    counts = []
    for day, cases in ((8, 2), (9, 12)):
        with time_machine.travel(at(2, 5, 16, year=UNKNOWN_YEAR), tick=False):
            across = [report() for _ in range(cases)]  # due on the coming Monday or Tuesday
        with (
            time_machine.travel(at(2, 5, 17, year=UNKNOWN_YEAR), tick=False),
            CaptureQueriesContext(connection) as queries,
        ):
            Holiday.objects.create(date=at(2, day, 0, year=UNKNOWN_YEAR).date(), kind="holiday")
        counts.append(len(queries))
        moved = Case.objects.filter(pk__in=[case.pk for case in across])
        assert {case.version for case in moved} == {across[0].version + 1}
    assert counts[0] == counts[1]


def test_a_holiday_moves_the_clocks_keeping_the_midday_break_uncounted(report, world, settings):
    from departments.models import Holiday

    settings.WORKING_HOURS = parse_working_hours("08:30-12:00,14:00-17:30")
    settings.FALLBACK_DISPATCH_HOURS = 8
    with time_machine.travel(at(2, 5, 16, year=UNKNOWN_YEAR), tick=False):
        case = report(category=world.lamp)  # no rule: 8 h to dispatch, 1.5 Friday, 6.5 Monday
    assert case.due_at == at(2, 8, 17, year=UNKNOWN_YEAR)
    with time_machine.travel(at(2, 5, 16, 30, year=UNKNOWN_YEAR), tick=False):
        Holiday.objects.create(date=at(2, 8, 0, year=UNKNOWN_YEAR).date(), kind="holiday")
    case.refresh_from_db()
    # 7.5 h were left, the break not counted in them: Tuesday at 17:00, not Wednesday.
    assert case.due_at == at(2, 9, 17, year=UNKNOWN_YEAR)


def test_entries_deleted_together_in_the_admin_put_the_deadlines_back(client, report, cast, world):
    from django.urls import reverse

    from departments.models import Holiday

    # A year unknown to the library: weekends only. Accepted Thursday 4 Feb at 10:00, an
    # environment case has 3 working days (24 h): due Tuesday 10:00, level 2 (36 h) on
    # Wednesday 14:00, level 3 (48 h) on Friday 12 Feb 10:00.
    with time_machine.travel(at(2, 4, 10, year=UNKNOWN_YEAR), tick=False):
        case = report(category=world.environment)
        workflow.case_accept(case=case, actor=cast.liaison)
    weekends_only = clock(case)
    assert weekends_only[1:] == (
        at(2, 8, 12, year=UNKNOWN_YEAR),
        at(2, 9, 10, year=UNKNOWN_YEAR),
        at(2, 10, 14, year=UNKNOWN_YEAR),
        at(2, 12, 10, year=UNKNOWN_YEAR),
    )
    with time_machine.travel(at(2, 4, 17, year=UNKNOWN_YEAR), tick=False):
        Holiday.objects.create(date=at(2, 10, 0, year=UNKNOWN_YEAR).date(), kind="holiday")
        Holiday.objects.create(date=at(2, 6, 0, year=UNKNOWN_YEAR).date(), kind="workday")
        # Saturday worked, Wednesday off: Thursday 7 h, Friday, Saturday, Monday 8 h each…
        assert clock(case)[1:] == (
            at(2, 6, 12, year=UNKNOWN_YEAR),
            at(2, 8, 10, year=UNKNOWN_YEAR),
            at(2, 9, 14, year=UNKNOWN_YEAR),
            at(2, 12, 10, year=UNKNOWN_YEAR),
        )
        client.force_login(cast.admin)
        response = client.post(
            reverse("admin:departments_holiday_changelist"),
            {
                "action": "delete_selected",
                "_selected_action": list(Holiday.objects.values_list("pk", flat=True)),
                "post": "yes",
            },
        )
        assert response.status_code == 302 and not Holiday.objects.exists()
    assert clock(case) == weekends_only
    told = [str(message) for message in get_messages(response.wsgi_request)]
    assert (
        f"The deadline or escalation times of 1 open case moved with the calendar: {case.number}."
        in told
    )


def test_the_admin_says_how_many_running_deadlines_an_entry_moved(client, report, cast, world):
    from django.urls import reverse

    with time_machine.travel(at(2, 4, 10, year=UNKNOWN_YEAR), tick=False):
        moved = [report(category=world.environment) for _ in range(2)]
        for case in moved:
            workflow.case_accept(case=case, actor=cast.liaison)
        client.force_login(cast.admin)
        add = reverse("admin:departments_holiday_add")
        response = client.post(
            add, {"date": unknown_year_date(2, 8), "kind": "holiday", "name": "局部休"}, follow=True
        )
        told = [str(message) for message in response.context["messages"]]
        numbers = ", ".join(sorted(case.number for case in moved))
        assert (
            f"The deadlines or escalation times of 2 open cases moved with the calendar: {numbers}."
            in told
        )
        # A day no running clock reaches moves nothing, and says nothing of it.
        response = client.post(
            add, {"date": unknown_year_date(12, 1), "kind": "holiday"}, follow=True
        )
        told = [str(message) for message in response.context["messages"]]
        assert told and not any("moved with the calendar" in message for message in told)


def test_a_calendar_entry_that_moves_no_deadline_leaves_the_cases_and_their_forms_alone(
    client, report, cast, world
):
    from django.urls import reverse

    # A year unknown to the library: weekends only. Accepted Thursday 4 Feb at 10:00, the
    # 3 working days to resolve run across the weekend to Tuesday 9 Feb at 10:00.
    with time_machine.travel(at(2, 4, 10, year=UNKNOWN_YEAR), tick=False):
        case = workflow.case_accept(case=report(category=world.environment), actor=cast.liaison)
    before = clock(case), Case.objects.get(pk=case.pk).version
    assert before[0][2] == at(2, 9, 10, year=UNKNOWN_YEAR)
    add = reverse("admin:departments_holiday_add")
    entries = [
        (
            (2, 4, 11),
            {"date": unknown_year_date(2, 6), "kind": "holiday"},
        ),  # a Saturday: off already
        ((2, 4, 11), {"date": unknown_year_date(2, 8), "kind": "workday"}),  # a Monday: on already
        ((2, 5, 11), {"date": unknown_year_date(2, 4), "kind": "holiday"}),  # yesterday: time spent
    ]
    for (month, day, hour), entry in entries:
        with time_machine.travel(at(month, day, hour, year=UNKNOWN_YEAR), tick=False):
            client.force_login(cast.admin)
            response = client.post(add, {**entry, "name": "局部"}, follow=True)
        told = [str(message) for message in response.context["messages"]]
        assert told and not any("moved with the calendar" in message for message in told), entry
        # Nothing moved: a liaison's page opened before is not refused as stale.
        assert (clock(case), Case.objects.get(pk=case.pk).version) == before, entry


def whistle(report, cast, world):
    """A case in the pool dispatched to urban management, market regulation summoned."""
    case = report(category=world.stall, cell=world.n2)  # overlap: in the pool
    workflow.case_dispatch(
        case=case, actor=cast.dispatcher, lead=world.urban, assisting=[world.market], whistle=True
    )
    return case


def report_due(case):
    return case.assists.get().report_due_at


def test_a_holiday_added_over_a_pending_report_for_duty_deadline_moves_it(
    report, cast, world, settings
):
    from departments.models import Holiday

    # A year unknown to the library: weekends only. Summoned Friday 5 Feb at 16:00 with
    # 16 working hours to report: due Tuesday 16:00, while the accept clock (2 h) ends on
    # Monday, so the holiday on Tuesday reaches the summons alone.
    settings.FALLBACK_DISPATCH_HOURS = 16
    with time_machine.travel(at(2, 5, 16, year=UNKNOWN_YEAR), tick=False):
        case = whistle(report, cast, world)
    assert report_due(case) == at(2, 9, 16, year=UNKNOWN_YEAR)
    rungs, version = clock(case), case.version
    with time_machine.travel(at(2, 5, 17, year=UNKNOWN_YEAR), tick=False):
        holiday = Holiday.objects.create(date=at(2, 9, 0, year=UNKNOWN_YEAR).date(), kind="holiday")
        assert report_due(case) == at(2, 10, 16, year=UNKNOWN_YEAR)  # the 8 working hours it takes
        assert holiday.cases_moved == {case.pk}
        # No form writes an assist: forms opened on the case before are still good.
        assert (clock(case), Case.objects.get(pk=case.pk).version) == (rungs, version)
        holiday.delete()
    assert report_due(case) == at(2, 9, 16, year=UNKNOWN_YEAR)


def test_a_holiday_leaves_the_summonses_answered_overdue_or_on_finished_cases(report, cast, world):
    from cases.services import liaison
    from departments.models import Holiday

    # A year unknown to the library: weekends only. Each summons has 4 working hours.
    with time_machine.travel(at(2, 5, 16, year=UNKNOWN_YEAR), tick=False):
        overdue = whistle(report, cast, world)  # due Monday 12:00
    with time_machine.travel(at(2, 8, 11, year=UNKNOWN_YEAR), tick=False):
        pending, answered, cancelled = (whistle(report, cast, world) for _ in range(3))
        liaison.assist_report_for_duty(case=answered, actor=cast.other_liaison)
        workflow.case_cancel(case=cancelled, actor=cast.dispatcher, reason="重复上报")
    before = {case.pk: report_due(case) for case in (overdue, answered, cancelled)}
    # Monday made a holiday on Monday afternoon: the hour left to the pending summons is
    # counted from Tuesday morning.
    with time_machine.travel(at(2, 8, 14, year=UNKNOWN_YEAR), tick=False):
        Holiday.objects.create(date=at(2, 8, 0, year=UNKNOWN_YEAR).date(), kind="holiday")
    assert report_due(pending) == at(2, 9, 10, year=UNKNOWN_YEAR)
    assert {case.pk: report_due(case) for case in (overdue, answered, cancelled)} == before


def test_the_admin_counts_a_case_whose_report_for_duty_deadline_moved(
    client, report, cast, world, settings
):
    from django.urls import reverse

    settings.FALLBACK_DISPATCH_HOURS = 16
    with time_machine.travel(at(2, 5, 16, year=UNKNOWN_YEAR), tick=False):
        whistle(report, cast, world)  # its rungs end on Monday, the summons on Tuesday
        client.force_login(cast.admin)
        response = client.post(
            reverse("admin:departments_holiday_add"),
            {"date": unknown_year_date(2, 9), "kind": "holiday", "name": "局部休"},
            follow=True,
        )
    told = [str(message) for message in response.context["messages"]]
    assert any(
        message.startswith("The deadline or escalation times of 1 open case moved")
        for message in told
    )


def test_the_admin_names_the_cases_whose_escalation_times_alone_moved(client, report, cast, world):
    """Next year's New Year's Day, entered in December, moves no deadline a case page shows,
    only the later escalation times: the admin says so and names the cases, each one
    once, and no more than ten of them."""
    from django.urls import reverse

    from departments.models import Holiday

    december = UNKNOWN_YEAR - 1  # weekends only, as the new year
    with time_machine.travel(at(12, 28, 10, year=december), tick=False):
        cases = [report(category=world.environment) for _ in range(12)]
        for case in cases:
            workflow.case_accept(case=case, actor=cast.liaison)
    before = clock(cases[0])
    assert (
        before[2] < at(1, 1, 0, year=UNKNOWN_YEAR) <= before[4]
    )  # due in December, level 3 in January
    with time_machine.travel(at(12, 28, 11, year=december), tick=False):
        client.force_login(cast.admin)
        response = client.post(
            reverse("admin:departments_holiday_add"),
            {"date": unknown_year_date(1, 1), "kind": "holiday", "name": "元旦"},
            follow=True,
        )
        # In Chinese too, the numbers joined with "、" and the rest counted in words (a
        # trailing "…" read "…、…。").
        removed = client.post(
            reverse("admin:departments_holiday_delete", args=[Holiday.objects.get().pk]),
            {"post": "yes"},
            follow=True,
            HTTP_ACCEPT_LANGUAGE="zh-hans",
        )
    assert clock(cases[0])[2] == before[2] and clock(cases[0])[4] == before[4]
    told = [str(message) for message in response.context["messages"]]
    numbers = sorted(case.number for case in cases)
    assert (
        "The deadlines or escalation times of 12 open cases moved with the calendar: "
        f"{', '.join(numbers[:10])} and 2 more." in told
    )
    told = [str(message) for message in removed.context["messages"]]
    assert (
        f"12 个在办案件的期限或督办升级时间已随日历调整：{'、'.join(numbers[:10])}，"
        "另有 2 个未列出。" in told
    )


def test_a_case_suspended_in_the_evening_after_its_deadline_stays_overdue(report, cast):
    """Due Monday 17:00, suspended and resumed that evening: no working time ran since the
    deadline, yet the case was overdue and must still be, its stopped clock saying so too.
    One suspended the evening before its deadline stays on time."""
    from cases.time_words import stopped_clock_words

    with time_machine.travel(at(11, 23, 15), tick=False):
        late = report()  # rubbish: 2 working hours to accept, due 17:00
    with time_machine.travel(at(11, 23, 16), tick=False):
        on_time = report()  # due Tuesday 10:00
    with time_machine.travel(at(11, 23, 20), tick=False):
        for case in (late, on_time):
            workflow.case_suspend(case=case, actor=cast.supervisor, reason="待专项整治")
            case.refresh_from_db()
        assert "overdue" in stopped_clock_words(late)
        assert "overdue" not in stopped_clock_words(on_time)
    with time_machine.travel(at(11, 23, 20, 30), tick=False):
        for case in (late, on_time):
            workflow.case_resume(case=case, actor=cast.supervisor)
        assert Case.objects.get(pk=late.pk).is_overdue
        assert not Case.objects.get(pk=on_time.pk).is_overdue
    assert clock(on_time)[2] == at(11, 24, 10)


@pytest.mark.parametrize(("hours", "due"), [(2.5, (11, 30)), (4.1, (13, 6)), (8.2, (9, 12))])
def test_a_decimal_pool_limit_gives_its_deadlines_to_the_second(
    report, cast, world, settings, hours, due
):
    # 4.1 h is 14,759.999… s in binary floating point: the pool's deadline and the
    # summons' fell at 13:05:59, shown as 13:05, for the 13:06 counted by hand.
    settings.FALLBACK_DISPATCH_HOURS = hours
    with time_machine.travel(at(11, 23, 9), tick=False):
        pooled = report(category=world.stall)
        summoned = whistle(report, cast, world)
    day = 23 if hours < 8 else 24
    assert pooled.due_at == at(11, day, *due)
    assert report_due(summoned) == at(11, day, *due)
