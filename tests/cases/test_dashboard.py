"""/dashboard/: figures aggregated in the database, for supervisors only."""

import html
import re
from datetime import date, datetime, time, timedelta
from itertools import pairwise

import pytest
import time_machine
from django.utils import timezone

from cases.models import TERMINAL_STATES, Case, CaseEvent, State
from cases.selectors.dashboard import Period, dashboard_data
from cases.services import workflow
from tests.cases.test_i18n import compiled_catalogue  # noqa: F401 (a fixture)
from tests.conftest import correct_as_shown


def test_dashboard_is_for_supervisors_only(client, cast):
    for user in (cast.caseworker, cast.dispatcher, cast.liaison):
        client.force_login(user)
        assert client.get("/dashboard/").status_code == 403
    client.force_login(cast.supervisor)
    assert client.get("/dashboard/").status_code == 200


def test_the_map_hint_says_a_cell_can_be_tapped_not_only_pointed_at(
    client,
    cast,
    compiled_catalogue,  # noqa: F811
):
    # On a phone or a tablet there is no mouse: a tap opens the cell's numbers too.
    client.force_login(cast.supervisor)
    english = client.get("/dashboard/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Tap or point at a cell for its numbers." in english
    chinese = client.get("/dashboard/", HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert "点击或指向网格可查看数字" in chinese and "鼠标" not in chinese


def test_dashboard_counts_rates_and_satisfaction(client, cast, world, report):
    closed = report()
    workflow.case_accept(case=closed, actor=cast.liaison)
    workflow.case_resolve(case=closed, actor=cast.liaison, note="好了")
    workflow.case_verify(case=closed, actor=cast.caseworker, satisfaction=4)
    returned = report()
    workflow.case_return(case=returned, actor=cast.liaison, reason="不归我")
    report(category=None)  # unclassified → pool
    report(reporter=cast.south_caseworker, cell=world.s1)  # other township: not counted
    client.force_login(cast.supervisor)
    response = client.get("/dashboard/")
    totals = response.context["figures"]["totals"]
    assert totals["total"] == 3
    assert totals["open"] == 2 and totals["closed"] == 1 and totals["on_time"] == 1
    assert totals["satisfaction"] == 4.0
    assert totals["fallback_rate"] == pytest.approx(33.3)
    assert totals["return_rate"] == pytest.approx(33.3)
    assert totals["response_rate"] == 100.0
    by_department = {
        row["lead_department__code"]: row for row in response.context["figures"]["by_department"]
    }
    assert by_department["CG"]["closed"] == 1
    assert 'id="dashboard-map"' in response.content.decode()


def test_dashboard_overdue_and_due_soon_warnings(client, cast, world, report):
    with time_machine.travel(timezone.now() - timedelta(days=10)):
        late = report()
    fresh = report()
    client.force_login(cast.supervisor)
    figures = client.get("/dashboard/").context["figures"]
    assert figures["totals"]["overdue"] == 1
    assert [c.number for c in figures["due_soon"]] == [fresh.number]
    assert late.number not in [c.number for c in figures["due_soon"]]


def test_the_overdue_card_also_counts_cases_overdue_now_whenever_reported(client, cast, report):
    with time_machine.travel(timezone.now() - timedelta(days=60)):
        report()  # long before the default period, and overdue ever since
    with time_machine.travel(timezone.now() - timedelta(days=10)):
        report()
    client.force_login(cast.supervisor)
    response = client.get("/dashboard/")
    figures = response.context["figures"]
    assert (figures["totals"]["overdue"], figures["overdue_now"]) == (1, 2)
    assert "2 cases overdue now, whenever reported" in response.text


def test_the_map_says_it_shades_the_periods_cases_not_every_overdue_case(
    client,
    cast,
    report,
    compiled_catalogue,  # noqa: F811
):
    # A leader read "red cells have overdue ones" on a map without red while cases reported
    # before the period were overdue: the legend says whose cases the map counts.
    with time_machine.travel(timezone.now() - timedelta(days=60)):
        old = report()
    client.force_login(cast.supervisor)
    response = client.get("/dashboard/", HTTP_ACCEPT_LANGUAGE="en")
    features = response.context["cells"]["features"]
    cells = {f["properties"]["code"]: f["properties"] for f in features}
    assert cells[old.cell.code]["overdue"] == 0 and response.context["figures"]["overdue_now"] == 1
    assert "Of the cases reported in the period: darker cells" in response.text
    chinese = client.get("/dashboard/", HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert "所选时段内上报的案件" in chinese


def test_recurrence_is_flagged_within_30_days_of_a_closed_case(client, cast, world, report):
    with time_machine.travel(timezone.now() - timedelta(days=5)):
        first = report()
        workflow.case_accept(case=first, actor=cast.liaison)
        workflow.case_resolve(case=first, actor=cast.liaison, note="好了")
        workflow.case_verify(case=first, actor=cast.caseworker)
    again = report()
    elsewhere = report(cell=world.n3)
    invalid = report()
    workflow.case_cancel(case=invalid, actor=cast.dispatcher, reason="误报")
    client.force_login(cast.supervisor)
    numbers = [c.number for c in client.get("/dashboard/").context["figures"]["recurrences"]]
    assert numbers == [again.number]  # not the report cancelled as invalid
    assert elsewhere.number not in numbers


def test_hotspot_cell_stands_out_from_its_usual_rate(client, cast, world, report):
    for _ in range(4):
        report(cell=world.n2)
    report(cell=world.n3)
    client.force_login(cast.supervisor)
    page = client.get("/dashboard/")
    hotspots = page.context["figures"]["hotspots"]
    assert [row["cell__code"] for row in hotspots] == ["N-02"]
    assert f"<li>{world.n2.name} (N-02): 4 cases in the last 7 days" in page.text
    chinese = client.get("/dashboard/", HTTP_ACCEPT_LANGUAGE="zh-hans").text
    assert f"<li>{world.n2.name}（N-02）：" in chinese


def test_dashboard_query_count_does_not_grow_with_cases(
    client, cast, world, report, django_assert_max_num_queries
):
    client.force_login(cast.district_supervisor)
    client.get("/dashboard/")  # the first refresh rolls up every day (none yet)
    report()
    with django_assert_max_num_queries(30) as few:
        client.get("/dashboard/")
    for cell in (world.n1, world.n2, world.n3):
        for _ in range(3):
            report(cell=cell)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get("/dashboard/")
    assert response.context["figures"]["totals"]["total"] == 10


def test_district_supervisor_can_narrow_to_one_township(client, cast, world, report):
    report()
    report(reporter=cast.south_caseworker, cell=world.s1)
    client.force_login(cast.district_supervisor)
    assert client.get("/dashboard/").context["figures"]["totals"]["total"] == 2
    narrowed = client.get("/dashboard/", {"township": world.south.pk})
    assert narrowed.context["figures"]["totals"]["total"] == 1


def test_the_overdue_now_link_of_one_township_lists_the_cases_it_counted(
    client, cast, world, report
):
    with time_machine.travel(timezone.now() - timedelta(days=10)):
        report()
        report()
        south = report(reporter=cast.south_caseworker, cell=world.s1)
    client.force_login(cast.district_supervisor)
    page = client.get("/dashboard/", {"township": world.south.pk})
    assert page.context["figures"]["overdue_now"] == 1
    link = html.unescape(re.search(r'id="overdue-now" href="([^"]+)"', page.text)[1])
    listed = client.get(link).context["page"].object_list
    assert [case.number for case in listed] == [south.number]
    # All townships: the link lists all the overdue cases the card counts.
    page = client.get("/dashboard/")
    link = html.unescape(re.search(r'id="overdue-now" href="([^"]+)"', page.text)[1])
    assert (
        len(client.get(link).context["page"].object_list)
        == page.context["figures"]["overdue_now"]
        == 3
    )


def test_township_staff_are_not_offered_a_township_filter(client, cast, world, report):
    client.force_login(cast.caseworker)
    assert "township" not in client.get("/cases/").context["filter_form"].fields
    # Their list stays their township's whatever the URL says.
    south = report(reporter=cast.south_caseworker, cell=world.s1)
    listed = client.get("/cases/", {"township": world.south.code}).context["page"]
    assert south.number not in [case.number for case in listed.object_list]


def test_a_township_supervisor_sees_only_their_townships_figures(client, cast, world, report):
    for _ in range(3):
        report(reporter=cast.south_caseworker, cell=world.s1)
    report()
    client.force_login(cast.supervisor)  # of the north township
    figures = client.get("/dashboard/", {"township": world.south.pk}).context["figures"]
    assert figures["totals"]["total"] == 1  # the township field is not theirs to choose
    assert [row["cell__code"] for row in figures["by_cell"]] == ["N-01"]
    assert sum(row["total"] for row in figures["series"]) == 1
    assert figures["hotspots"] == []
    district = dashboard_data(cast.district_supervisor, period=last_30_days())
    assert [row["cell__code"] for row in district["hotspots"]] == ["S-01"]
    south = dashboard_data(cast.supervisor, period=last_30_days(), township_id=world.south.pk)
    assert south["totals"]["total"] == 0 and south["by_department"] == []


def test_the_first_load_after_a_burst_of_changes_counts_every_change(client, cast, world, report):
    with time_machine.travel(timezone.now() - timedelta(days=3)):
        earlier = [report(), report(cell=world.n2)]
    client.force_login(cast.district_supervisor)
    client.get("/dashboard/")
    now = [report(), report(category=None)]
    for case in [*earlier, now[0]]:
        workflow.case_accept(case=case, actor=cast.liaison)
    workflow.case_resolve(case=earlier[0], actor=cast.liaison, note="好了")
    workflow.case_verify(case=earlier[0], actor=cast.caseworker, satisfaction=3)
    workflow.case_return(case=earlier[1], actor=cast.liaison, reason="不归我")
    totals = client.get("/dashboard/").context["figures"]["totals"]
    cases = Case.objects.all()
    assert (
        (totals["total"], totals["open"], totals["closed"])
        == (
            cases.count(),
            cases.exclude(state__in=TERMINAL_STATES).count(),
            cases.filter(state=State.CLOSED).count(),
        )
        == (4, 3, 1)
    )
    events = CaseEvent.objects.values("case").distinct()
    assert totals["accept_due"] == events.filter(action="accept").count() == 3
    assert totals["returned"] == events.filter(action="return").count() == 1
    assert totals["fallback"] == events.filter(action="route", to_state=State.FALLBACK).count()
    assert totals["satisfaction"] == 3.0


def test_a_rate_of_no_cases_reads_as_a_dash_not_a_dash_percent(client, cast, report):
    """A rate whose denominator is 0 is no rate: "—", as the tables show it, not "— %"."""
    report()  # open, none closed, none accepted or resolved: three rates of nothing
    client.force_login(cast.supervisor)
    page = client.get("/dashboard/").content.decode()
    totals = page[page.index('id="totals"') : page.index("rates-chart")]
    assert "— %" not in totals
    assert '<div class="kpi" id="kpi-on-time">0</div><small>—</small>' in totals
    assert totals.count('<div class="kpi">—</div>') == 2  # response and resolution rates
    assert '<div class="kpi" id="kpi-open">1</div><small>100.0 %</small>' in totals


def test_the_chart_shows_a_day_without_cases_as_zero_not_leaves_it_out(client, cast, report):
    today = timezone.localdate()
    with time_machine.travel(timezone.now() - timedelta(days=2)):
        report()
        report()
    report()
    client.force_login(cast.supervisor)
    query = {"date_from": today - timedelta(days=2), "date_to": today}
    chart = client.get("/dashboard/", query).context["chart"]
    assert len(chart["labels"]) == 3
    assert chart["series"]["total"] == [2, 0, 1]
    # No cases, no rate: a gap in the line, not a 0 %.
    assert chart["series"]["fallback_rate"] == [0.0, None, 0.0]


def test_a_long_periods_chart_has_every_week_a_week_without_cases_at_zero(cast, report):
    today = timezone.localdate()
    with time_machine.travel(timezone.now() - timedelta(days=14)):
        report()
    report()
    period = Period(today - timedelta(days=34), today)
    series = dashboard_data(cast.supervisor, period=period)["series"]
    days = [date.fromisoformat(row["bucket"]) for row in series]
    assert days[0] == period.start and days[1].weekday() == 0  # then every Monday
    assert all(later - earlier == timedelta(weeks=1) for earlier, later in pairwise(days[1:]))
    assert days[-1] > today - timedelta(weeks=1)
    totals = [row["total"] for row in series]
    assert sum(totals) == 2 and totals.count(0) == len(totals) - 2


def test_a_weekly_charts_first_and_last_weeks_are_cut_at_the_periods_ends(client, cast, report):
    # Wednesday 21 October to Saturday 5 December: longer than a month, charted by week.
    for day in (date(2026, 10, 21), date(2026, 10, 25), date(2026, 12, 5)):
        with time_machine.travel(timezone.make_aware(datetime.combine(day, time(10)))):
            report()
    client.force_login(cast.supervisor)
    query = {"date_from": "2026-10-21", "date_to": "2026-12-05"}
    with time_machine.travel(timezone.make_aware(datetime(2026, 12, 6, 10))):
        page = client.get("/dashboard/", query, HTTP_ACCEPT_LANGUAGE="en")
    series = page.context["figures"]["series"]
    first, second, last = series[0], series[1], series[-1]
    # Labelled with the first day counted, not the Monday before the period (19 October).
    assert (first["bucket"], first["last"], first["total"]) == ("2026-10-21", "2026-10-25", 2)
    assert (second["bucket"], second["last"]) == ("2026-10-26", "2026-11-01")
    assert (last["bucket"], last["last"], last["total"]) == ("2026-11-30", "2026-12-05", 1)
    chart = page.context["chart"]
    assert chart["labels"][0] == "10/21"
    assert chart["spans"][0] == "10/21/2026 to 10/25/2026"
    assert chart["spans"][-1] == "11/30/2026 to 12/05/2026"


def test_the_charts_days_are_short_and_its_scales_titled_in_the_readers_language(
    client,
    cast,
    report,
    compiled_catalogue,  # noqa: F811
):
    # "2026年11月7日" at 45° under each point left a phone's chart a 70 px high plot.
    client.force_login(cast.supervisor)
    query = {"date_from": "2026-11-07", "date_to": "2026-11-09"}
    with time_machine.travel(timezone.make_aware(datetime(2026, 11, 10, 10))):
        chinese = client.get("/dashboard/", query, HTTP_ACCEPT_LANGUAGE="zh-CN")
        english = client.get("/dashboard/", query, HTTP_ACCEPT_LANGUAGE="en")
    chart = chinese.context["chart"]
    assert chart["labels"] == ["11月7日", "11月8日", "11月9日"]
    assert chart["spans"][0] == "2026年11月7日"  # the tooltip names the full date
    assert chart["axes"] == {"y": "比率（%）", "y2": "上报案件数", "y3": "满意度（1–5）"}
    chart = english.context["chart"]
    assert chart["labels"] == ["11/7", "11/8", "11/9"] and chart["spans"][0] == "11/07/2026"
    assert chart["axes"] == {"y": "Rate (%)", "y2": "Cases reported", "y3": "Satisfaction (1–5)"}


def test_the_due_soon_list_says_how_many_more_it_left_out(
    client, cast, report, monkeypatch, django_assert_max_num_queries
):
    monkeypatch.setattr("cases.selectors.dashboard.DUE_SOON_LISTED", 2)
    client.force_login(cast.supervisor)
    # A Monday morning: a case reported now is due to be accepted within the working day.
    with time_machine.travel(timezone.make_aware(datetime(2026, 3, 2, 9, 30))):
        client.get("/dashboard/")  # the first refresh rolls up every day (none yet)
        for _ in range(3):
            report()
        with django_assert_max_num_queries(100) as few:
            page = client.get("/dashboard/", HTTP_ACCEPT_LANGUAGE="en")
        assert len(page.context["figures"]["due_soon"]) == 2
        assert page.context["figures"]["due_soon_more"] == 1
        assert "And 1 more case due within the next working day, not listed." in page.text
        for _ in range(3):
            report()
        # Counting the rest is one more query whatever their number.
        with django_assert_max_num_queries(len(few.captured_queries)):
            page = client.get("/dashboard/", HTTP_ACCEPT_LANGUAGE="en")
    assert page.context["figures"]["due_soon_more"] == 4
    assert "And 4 more cases due within the next working day, not listed." in page.text


def last_30_days() -> Period:
    today = timezone.localdate()
    return Period(today - timedelta(days=29), today)


def test_a_case_the_router_sends_to_the_pool_after_a_correction_counts_in_the_fallback_rate(
    report, cast, world
):
    """The fallback (ambiguity) rate is of the cases routed to a pool: a correction routes
    again, and an ambiguous category sends an assigned case there."""

    case = report(cell=world.n2)  # rubbish: the urban department
    # Two lead rules: overlap.
    correct_as_shown(case, actor=cast.dispatcher, category=world.stall, cell=world.n2)
    assert (case.state, case.fallback_reason) == (State.FALLBACK, "overlap")
    today = timezone.localdate()
    totals = dashboard_data(cast.supervisor, period=Period(today, today))["totals"]
    assert (totals["fallback"], totals["fallback_rate"]) == (1, 100.0)


def test_the_department_and_cell_tables_give_open_overdue_and_on_time_rates(
    client, cast, world, report
):
    """SPEC §6: open, overdue and on-time rates by department and by cell."""
    with time_machine.travel(timezone.now() - timedelta(days=10)):
        report()  # overdue by now
    closed = report()
    workflow.case_accept(case=closed, actor=cast.liaison)
    workflow.case_resolve(case=closed, actor=cast.liaison, note="好了")
    workflow.case_verify(case=closed, actor=cast.caseworker, satisfaction=5)
    client.force_login(cast.supervisor)
    page = client.get("/dashboard/", {"date_from": "2000-01-01"}).content.decode()
    tables = page.split("By department")[1]
    department, cell = tables.split("By grid cell")
    for table in (department, cell):
        # CG and cell N-01: 2 cases, 1 open (50 %), overdue (100 % of open), 1 closed on time.
        assert re.search(r"<td>2</td><td>1 <small[^>]*>50\.0 %</small></td>", table), table
        assert re.search(r"<td>1 <small[^>]*>100\.0 %</small></td><td>100\.0</td>", table)


def test_each_row_of_the_department_and_cell_tables_is_headed_by_its_name(
    client, cast, world, report
):
    """A screen reader reading a figure says whose it is: the row's name is its header."""
    report()
    report(category=world.lamp)  # to the pool: the row with no department
    client.force_login(cast.supervisor)
    page = client.get("/dashboard/").content.decode()
    department, cell = page.split("By department")[1].split("By grid cell")
    expected = {department: {world.urban.name, "fallback pool"}, cell: {world.n1.name}}
    for table, names in expected.items():
        body = table.split("<tbody>")[1].split("</tbody>")[0]
        rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
        headed = {re.match(r'<th scope="row">([^<]*)</th>', row).group(1) for row in rows}
        assert headed == names
    heads = re.findall(r"<thead>.*?</thead>", page, re.S)
    assert len(heads) == 2 and all('<th scope="col">' in h and "<th>" not in h for h in heads)
