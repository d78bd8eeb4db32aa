"""Supervision of power: per department and period, return and reopen rates, extensions
and time to accept, the outliers flagged, each figure linked to its audit rows."""

import re
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from cases.selectors.supervision import department_figures
from cases.services import extensions, workflow
from cases.services.supervision import LOCK_KEY, supervision_refresh
from departments.models import Responsibility, User
from departments.services import sync_role_group
from tests.conftest import correct_as_shown, make_user, page_at_once, refresh_under_way


@pytest.fixture
def history(report, cast, world):
    """CG gets two cases and returns both; SJ and ZJ get two each and keep them."""
    returned = [report(description=f"垃圾 {i}") for i in range(2)]
    for case in returned:
        workflow.case_return(case=case, actor=cast.liaison, reason="不属于城管")
    kept = []
    for department in (world.market, world.market, world.housing, world.housing):
        case = report(category=world.stall, description="占道经营")
        kept.append(workflow.case_dispatch(case=case, actor=cast.dispatcher, lead=department))
    with time_machine.travel(timezone.now() + timedelta(hours=3)):
        for case in kept[:2]:
            workflow.case_accept(case=case, actor=cast.other_liaison)
    return returned, kept


def figures_by_code(figures):
    return {figure.department.code: figure for figure in figures}


def period():
    today = timezone.localdate()
    return {"first": today - timedelta(days=1), "last": today + timedelta(days=1)}


def figures_of(**days):
    """The figures of the days, the roll-up brought up to date first as the page does."""
    supervision_refresh()
    return department_figures(**days)


def test_figures_count_given_returned_and_accepted_cases_per_department(history):
    figures = figures_by_code(figures_of(**period()))
    assert (figures["CG"].given, figures["CG"].returns) == (2, 2)
    assert (figures["SJ"].given, figures["SJ"].returns, figures["SJ"].accepts) == (2, 0, 2)
    assert figures["ZJ"].given == 2
    assert figures["SJ"].accept_hours == pytest.approx(3, abs=0.1)


def test_every_figure_of_a_case_through_its_whole_life_from_the_roll_up_not_the_audit_rows(
    report, cast, world
):
    """Given, accepted, extended (approved), resolved, reopened: each step counted once for
    the department, read from the daily roll-up without a look at the audit rows."""
    case = report()
    workflow.case_accept(case=case, actor=cast.liaison)
    request = extensions.extension_request(
        case=case, actor=cast.liaison, reason="需要协调物业", extra_days=Decimal("2")
    )
    sync_role_group(cast.supervisor)
    extensions.extension_decide(request=request, approve=True, actor=cast.supervisor)
    case.refresh_from_db()
    workflow.case_resolve(case=case, actor=cast.liaison, note="已清理完毕")
    workflow.case_reopen(case=case, actor=cast.caseworker, reason="现场仍有垃圾")
    supervision_refresh()
    with CaptureQueriesContext(connection) as queries:
        cg = figures_by_code(department_figures(**period()))["CG"]
    steps = (cg.given, cg.accepts, cg.extensions, cg.extensions_approved, cg.resolves, cg.reopens)
    assert steps == (1, 1, 1, 1, 1, 1)
    assert (cg.returns, cg.returns_of_given) == (0, 0)
    audit_scans = [q["sql"] for q in queries.captured_queries if "cases_caseevent" in q["sql"]]
    assert audit_scans == []
    # The roll-up's sums, the departments.
    assert len(queries.captured_queries) == 2


def test_a_department_returning_far_more_than_the_others_is_flagged(history):
    figures = figures_by_code(figures_of(**period()))
    assert "return_rate" in figures["CG"].flags
    assert not figures["SJ"].flags
    assert not figures["ZJ"].flags


def test_the_period_limits_the_figures(history):
    later = timezone.localdate() + timedelta(days=10)
    figures = figures_of(first=later, last=later + timedelta(days=1))
    assert all(figure.given == 0 and figure.returns == 0 for figure in figures)


def test_supervision_page_links_each_figure_to_its_audit_rows(
    client, cast, history, django_assert_max_num_queries
):
    returned, _kept = history
    client.force_login(cast.admin)
    with django_assert_max_num_queries(15):
        page = client.get(reverse("admin:cases_supervision"))
    assert page.status_code == 200
    assert "far above the others" in page.text
    cg = figures_by_code(page.context["figures"])["CG"]
    rows = client.get(cg.links["returns"]).context["cl"].result_list
    assert {event.case for event in rows} == set(returned)
    assert {event.action for event in rows} == {"return"}
    given = client.get(cg.links["given"]).context["cl"].result_list
    assert len(given) == cg.given and {event.to_state for event in given} == {"assigned"}


def test_a_township_supervisor_sees_the_page_and_a_liaison_does_not(client, cast, history):
    sync_role_group(cast.supervisor)
    client.force_login(cast.supervisor)
    assert client.get(reverse("admin:cases_supervision")).status_code == 200
    client.force_login(cast.liaison)
    assert client.get(reverse("admin:cases_supervision")).status_code == 403


def test_a_period_at_the_end_of_the_calendar_is_refused_not_a_server_error(client, cast):
    client.force_login(cast.admin)
    response = client.get(
        reverse("admin:cases_supervision"), {"start": "2026-01-01", "end": "9999-12-31"}
    )
    assert response.status_code == 200
    assert response.context["form"].errors["end"]


def test_a_township_supervisor_counts_only_their_townships_cases(client, cast, world, report):
    """As the audit rows the figures link to, which the admin limits to the township."""
    north = report()
    south = report(reporter=cast.south_caseworker, cell=world.s1)
    for case in (north, south):
        workflow.case_return(case=case, actor=cast.liaison, reason="不属于城管")
    sync_role_group(cast.supervisor)
    sync_role_group(cast.district_supervisor)

    def returns_seen_by(user):
        client.force_login(user)
        page = client.get(reverse("admin:cases_supervision"))
        cg = figures_by_code(page.context["figures"])["CG"]
        linked = client.get(cg.links["returns"]).context["cl"].result_list
        return (cg.given, cg.returns), {event.case for event in linked}, page.text

    figures, linked, text = returns_seen_by(cast.supervisor)
    assert figures == (1, 1)
    assert linked == {north}
    assert "Counted over the cases of 北街道 only." in text

    figures, linked, text = returns_seen_by(cast.district_supervisor)
    assert figures == (2, 2)
    assert linked == {north, south}
    assert "Counted over the cases of" not in text


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_period_boxes_hold_iso_dates_a_date_input_can_read_in_every_language(
    client, cast, language
):
    client.force_login(cast.admin)
    page = client.get(reverse("admin:cases_supervision"), HTTP_ACCEPT_LANGUAGE=language)
    for name in ("start", "end"):
        box = re.search(rf'<input type="date" name="{name}"[^>]*>', page.text).group()
        assert re.search(r'value="\d{4}-\d{2}-\d{2}"', box), box


def test_the_return_rate_counts_only_the_cases_given_in_the_period(report, cast, world):
    early = report(description="上周的案子")
    later = timezone.now() + timedelta(days=3)
    with time_machine.travel(later):
        workflow.case_return(case=early, actor=cast.liaison, reason="不属于城管")
        fresh = report(description="本周的案子")
    window = {
        "first": timezone.localdate(later - timedelta(hours=1)),
        "last": timezone.localdate(later + timedelta(days=1)),
    }
    cg = figures_by_code(figures_of(**window))["CG"]
    # The early case's return is one of the period's returns, not of its given cases.
    assert (cg.given, cg.returns, cg.returns_of_given) == (1, 1, 0)
    assert cg.return_rate == 0
    with time_machine.travel(later + timedelta(hours=2)):
        workflow.case_return(case=fresh, actor=cast.liaison, reason="也不属于城管")
    cg = figures_by_code(figures_of(**window))["CG"]
    assert (cg.given, cg.returns, cg.return_rate) == (1, 2, 1)


def test_the_reopen_rate_counts_only_the_cases_resolved_in_the_period(client, report, cast):
    """A reopen of a case resolved before the period is one of its reopens, not of its
    resolves: the rate never passes 100 % (it read 200 % for a day with two such reopens
    and one resolve)."""
    early = [report(description=f"上周的案子 {i}") for i in range(2)]
    for case in early:
        workflow.case_accept(case=case, actor=cast.liaison)
        workflow.case_resolve(case=case, actor=cast.liaison, note="已清理")
    # Mid-morning, so that five minutes later is the same day (a run at 23:56 failed).
    later = timezone.localtime().replace(hour=10, minute=0) + timedelta(days=3)
    with time_machine.travel(later):
        for case in early:
            workflow.case_reopen(case=case, actor=cast.caseworker, reason="仍有垃圾")
        fresh = report(description="本周的案子")
        workflow.case_accept(case=fresh, actor=cast.liaison)
        workflow.case_resolve(case=fresh, actor=cast.liaison, note="已清理")
    day = timezone.localdate(later)
    cg = figures_by_code(figures_of(first=day, last=day))["CG"]
    assert (cg.resolves, cg.reopens, cg.reopens_of_resolved) == (1, 2, 0)
    assert cg.reopen_rate == 0
    with time_machine.travel(later + timedelta(minutes=5)):
        workflow.case_reopen(case=fresh, actor=cast.caseworker, reason="也仍有垃圾")
        client.force_login(cast.admin)
        page = client.get(reverse("admin:cases_supervision"), {"start": day, "end": day})
    row = re.search(r'id="department-CG">.*?</tr>', page.text, re.S).group()
    assert "100%" in row and "300%" not in row
    # Over both weeks, every reopen is of a resolve of the period.
    cg = figures_by_code(figures_of(first=day - timedelta(days=3), last=day))["CG"]
    assert (cg.resolves, cg.reopens, cg.reopen_rate) == (3, 3, 1)


def test_the_supervision_page_opens_on_the_dashboards_period(client, cast):
    """Read side by side, the two pages count the same days unless told otherwise."""
    client.force_login(cast.admin)
    supervision = client.get(reverse("admin:cases_supervision")).context["form"].cleaned_data
    dashboard = client.get(reverse("dashboard")).context["period"]
    today = timezone.localdate()
    assert (supervision["start"], supervision["end"]) == (today - timedelta(days=29), today)
    assert (dashboard.start, dashboard.end) == (today - timedelta(days=29), today)


def test_a_liaisons_steps_stay_with_the_department_they_were_for(client, cast, world, history):
    """The liaison of SJ accepted two cases, then moved to ZJ: the figures and the audit
    rows the page links to still count those accepts for SJ."""
    cast.other_liaison.department = world.housing
    cast.other_liaison.save()
    figures = figures_by_code(figures_of(**period()))
    assert (figures["SJ"].accepts, figures["ZJ"].accepts) == (2, 0)
    assert figures["SJ"].accept_hours == pytest.approx(3, abs=0.1)
    assert figures["ZJ"].accept_hours is None
    client.force_login(cast.admin)
    audit = reverse("admin:cases_caseevent_changelist")
    for department, accepts in ((world.market, 2), (world.housing, 0)):
        rows = client.get(audit, {"department": department.pk, "action": "accept"})
        assert rows.text.count('class="field-at') == accepts, department.code


def test_a_departments_audit_rows_without_a_recorded_department_are_found_by_case_or_actor(
    client, cast, world, report
):
    """Rows written before each recorded its department are a department's by the lead of
    their case (a reopen) or the department of their actor (an accept), asked of those rows
    alone: joined, the admin's count read every case (1 s for a month at a million)."""
    case = report()
    workflow.case_accept(case=case, actor=cast.liaison)
    workflow.case_resolve(case=case, actor=cast.liaison, note="已清理")
    workflow.case_reopen(case=case, actor=cast.caseworker, reason="仍有垃圾")
    case.events.filter(action__in=["accept", "reopen"]).update(data={})
    client.force_login(cast.admin)
    audit = reverse("admin:cases_caseevent_changelist")
    for department, rows in ((world.urban, 1), (world.market, 0)):
        for action in ("accept", "reopen"):
            with CaptureQueriesContext(connection) as queries:
                page = client.get(audit, {"department": department.pk, "action": action})
            assert page.text.count('class="field-at') == rows, (department.code, action)
            (count,) = [q["sql"] for q in queries if q["sql"].startswith("SELECT COUNT(*)")]
            assert 'JOIN "cases_case"' not in count


def test_a_liaison_filters_the_audit_trail_by_their_own_department_alone(client, cast, world):
    """Another department's rows among a liaison's cases are few, and finding them read
    the whole trail (6 s at 5 million rows): supervisors and administrators are offered
    every department."""
    audit = reverse("admin:cases_caseevent_changelist")

    def offered(user) -> set[int]:
        client.force_login(user)
        return {int(pk) for pk in re.findall(r"\?department=(\d+)", client.get(audit).text)}

    assert offered(cast.liaison) == {world.urban.pk}
    assert {world.urban.pk, world.market.pk, world.housing.pk} <= offered(cast.admin)


def test_the_audit_trail_of_an_action_is_read_from_its_index(cast, report):
    """The supervision page's links filter the trail by action, newest first: by time
    alone, a month of a department's reopens read every row of the month (1.3 s at 5
    million). The report and route rows of every case are not in the index."""
    from cases.models import CaseEvent

    report()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    reopens = CaseEvent.objects.filter(action="reopen").order_by("-at", "-id")[:50]
    assert "event_action_at" in reopens.explain()
    routes = CaseEvent.objects.filter(action="route").order_by("-at", "-id")[:50]
    assert "event_action_at" not in routes.explain()


def test_a_correction_that_gives_an_assigned_case_another_lead_counts_as_given_to_it(
    client, report, cast, world
):
    """Its new lead may return it like any case routed to it: the return rate must know
    the case was given. A correction that keeps the lead gives nothing."""
    Responsibility.objects.create(
        category=world.lamp, department=world.housing, role="lead", basis="权责清单 4"
    )
    case = report()  # rubbish: the urban department
    correct_as_shown(case, actor=cast.dispatcher, category=world.lamp, cell=case.cell)
    correct_as_shown(case, actor=cast.dispatcher, category=world.lamp, cell=world.n2)
    assert case.lead_department == world.housing
    housing_liaison = make_user("zj_liaison", User.Role.LIAISON, department=world.housing)
    workflow.case_return(case=case, actor=housing_liaison, reason="不属于住建")
    figures = figures_by_code(figures_of(**period()))
    assert (figures["CG"].given, figures["ZJ"].given) == (1, 1)
    assert (figures["ZJ"].returns, figures["ZJ"].return_rate) == (1, 1)
    client.force_login(cast.admin)
    page = client.get(reverse("admin:cases_supervision"))
    zj = figures_by_code(page.context["figures"])["ZJ"]
    given = client.get(zj.links["given"]).context["cl"].result_list
    assert [(event.action, event.data["lead"]) for event in given] == [
        ("correct", world.housing.pk)
    ]


def supervision_at_once(client, **headers):
    return page_at_once(client, reverse("admin:cases_supervision"), **headers)


AT_1402 = datetime(2026, 3, 10, 14, 2, tzinfo=ZoneInfo("Asia/Shanghai"))


# Committed: a refresh in the test's own transaction would hold the lock till its end.
@pytest.mark.django_db(transaction=True)
def test_the_page_shows_the_last_figures_at_once_while_another_refresh_is_under_way(
    client, cast, report
):
    with time_machine.travel(AT_1402, tick=False):
        workflow.case_return(case=report(), actor=cast.liaison, reason="不属于城管")
        supervision_refresh()
    with time_machine.travel(AT_1402 + timedelta(minutes=5)):
        workflow.case_return(case=report(), actor=cast.liaison, reason="也不属于城管")
        client.force_login(cast.admin)
        with refresh_under_way(LOCK_KEY):
            page = supervision_at_once(client)
            chinese = supervision_at_once(client, HTTP_ACCEPT_LANGUAGE="zh-hans")
        assert "Figures as of 14:02; being brought up to date." in page.text
        assert "14:02 的数据" in chinese.text
        # As of that refresh: the second return is the next one's.
        cg = figures_by_code(page.context["figures"])["CG"]
        assert (cg.given, cg.returns) == (1, 1)

        page = client.get(reverse("admin:cases_supervision"))
        assert "being brought up to date" not in page.text  # nobody else at it: refreshed
        cg = figures_by_code(page.context["figures"])["CG"]
        assert (cg.given, cg.returns) == (2, 2)


@pytest.mark.django_db(transaction=True)
def test_the_page_says_the_figures_are_being_built_rather_than_show_zeros(client, cast, report):
    workflow.case_return(case=report(), actor=cast.liaison, reason="不属于城管")
    client.force_login(cast.admin)
    with refresh_under_way(LOCK_KEY):  # the first build, no figures yet
        page = supervision_at_once(client)
        assert "The figures are being built; try again in a minute." in page.text
        assert page.context["figures"] == []
        assert "supervision-figures" not in page.text
        chinese = supervision_at_once(client, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "try again" not in chinese.text and "分钟" in chinese.text


def test_each_department_heads_its_row_of_figures(client, cast, history):
    """A screen reader reading a figure says whose it is: the department is its row's
    header, as each column's name is its column's."""
    client.force_login(cast.admin)
    page = client.get(reverse("admin:cases_supervision")).text
    body = page.split('<table class="supervision-figures">')[1].split("</table>")[0]
    rows = re.findall(r"<tr[^>]*>\s*(<t[hd][^>]*>)", body.split("<tbody>")[1])
    assert rows == ['<th scope="row">'] * len(figures_by_code(department_figures(**period())))
    assert '<th scope="col">' in body.split("<tbody>")[0]
