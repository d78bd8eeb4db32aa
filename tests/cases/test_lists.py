"""The list pages at scale: /cases/, the fallback pool and the admin changelist. Who sees
which case (liaisons by lead and by assist), the pool's one dispatch form, the capped
count (cases/pagination.py) and query counts that do not grow with the cases."""

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.paginator import EmptyPage
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cases import pagination
from cases.admin.cases import CaseAdmin
from cases.models import Case, State
from cases.selectors.access import cases_visible_to
from cases.selectors.lists import case_search, fallback_pool_for
from cases.services import workflow
from departments.services import sync_role_groups

CHANGELIST = "/admin/cases/case/"
# Its "working time left" column, as `?o=` counts them: after the action checkbox.
TIME_LEFT_COLUMN = CaseAdmin.list_display.index("time_left") + 1


def text_of(response) -> str:
    return response.content.decode()


def staff(user):
    """Supervisors read the admin too (the demo's `district` does, and the benchmark times
    its changelist)."""
    if not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    return user


@pytest.fixture
def scenes(cast, world, report):
    """One case of each kind a liaison of the urban-management department (CG) must, or
    must not, see."""

    def dispatched(lead, assisting=()):
        case = report(category=world.stall, cell=world.n2)  # overlap: the pool
        return workflow.case_dispatch(
            case=case, actor=cast.dispatcher, lead=lead, assisting=list(assisting)
        )

    pooled_assisted = report(category=None)
    pooled_assisted.assists.create(department=world.urban)
    return {
        "led": report(),  # rubbish: routed to CG
        "assisted": dispatched(world.market, [world.urban]),
        "foreign": dispatched(world.market),
        "foreign_assisted_by_other": dispatched(world.housing, [world.market]),
        "pooled": report(category=None),
        "pooled_assisted": pooled_assisted,
    }


def test_liaison_sees_exactly_the_cases_their_department_leads_or_assists(
    client, cast, world, scenes
):
    visible = {"led", "assisted", "pooled_assisted"}
    expected = {scenes[name].number for name in visible}
    assert {case.number for case in cases_visible_to(cast.liaison)} == expected
    # Narrowed further, as the admin and the forms do with their own querysets.
    narrowed = cases_visible_to(cast.liaison, Case.objects.filter(state=State.FALLBACK))
    assert {case.number for case in narrowed} == {scenes["pooled_assisted"].number}
    client.force_login(cast.liaison)
    listed = client.get("/cases/").context["page"].object_list
    assert {case.number for case in listed} == expected
    # The pool's page is not theirs (the township's dispatchers work it); the pooled case
    # they assist stays in their list and on its page.
    assert client.get("/cases/fallback/").status_code == 403
    assert [case.number for case in fallback_pool_for(cast.liaison)] == [
        scenes["pooled_assisted"].number
    ]
    changelist = client.get(CHANGELIST).context["cl"].result_list
    assert {case.number for case in changelist} == expected


def test_department_filter_matches_the_lead_and_the_assisting_department(cast, world, scenes):
    found = case_search(cast.district_supervisor, department=world.urban)
    assert {case.number for case in found} == {
        scenes[name].number for name in ("led", "assisted", "pooled_assisted")
    }
    found = case_search(cast.district_supervisor, department=world.market)
    assert {case.number for case in found} == {
        scenes[name].number for name in ("assisted", "foreign", "foreign_assisted_by_other")
    }


def test_pool_renders_one_dispatch_form_and_a_button_per_case(client, cast, world, report):
    cases = [report(category=None), report(category=world.lamp), report(category=None)]
    client.force_login(cast.dispatcher)
    response = client.get("/cases/fallback/")
    text = text_of(response)
    assert text.count('<select name="lead"') == 1
    assert text.count('name="assisting"') == 3  # one checkbox per department, once
    buttons = re.findall(r'<button type="submit" form="pool-dispatch"[^>]*>', text)
    assert len(buttons) == 3
    for case in cases:
        url = reverse("cases:transition", args=[case.number, "dispatch"])
        assert any(
            f'formaction="{url}"' in button and f'value="{case.version}"' in button
            for button in buttons
        )


def test_pool_pages_are_read_oldest_first_page_by_page(client, cast, report, monkeypatch):
    from cases.views import lists

    monkeypatch.setattr(lists, "PAGE_SIZE", 2)
    numbers = [report(category=None).number for _ in range(5)]
    client.force_login(cast.dispatcher)
    pages = [
        [case.number for case, _may in client.get(f"/cases/fallback/?page={n}").context["rows"]]
        for n in (1, 2, 3)
    ]
    assert pages == [numbers[0:2], numbers[2:4], numbers[4:5]]


@pytest.mark.parametrize("who", ["dispatcher", "caseworker"])
def test_the_pool_page_searches_the_pool_through_the_list(client, cast, world, report, who):
    """A caller asks about their report: the pool page's search finds it among the pool's
    pages (the list's search, kept to the pool), and not the same words on a routed case."""
    wanted = report(category=None, description="桥下井盖缺失 老王")
    report(category=None, description="别的事")
    report(description="桥下井盖缺失 已派")  # rubbish: routed to a department
    client.force_login(getattr(cast, who))
    pool = client.get("/cases/fallback/")
    form = re.search(
        r'<form method="get" action="([^"]+)"[^>]*role="search">(.*?)</form>', pool.text, re.S
    )
    assert form and form[1] == reverse("cases:list")
    assert '<input type="hidden" name="state" value="fallback">' in form[2]
    assert '<input type="search" name="q"' in form[2]
    assert "2 cases" in form[2]  # the pool's size, beside the search
    found = client.get(form[1], {"state": "fallback", "q": "井盖缺失"}).context["page"]
    assert [case.number for case in found] == [wanted.number]


def test_the_pool_dispatches_the_case_whose_button_is_pressed(client, cast, world, report):
    chosen, other = report(category=None), report(category=None)
    client.force_login(cast.dispatcher)
    client.get("/cases/fallback/")
    # What the browser posts: the shared form's fields to the pressed button's formaction,
    # with the button's own name and value (the case's version).
    response = client.post(
        reverse("cases:transition", args=[chosen.number, "dispatch"]),
        {
            "next": "/cases/fallback/",
            "lead": world.urban.pk,
            "whistle": "on",
            "assisting": [world.market.pk],
            "comment": "城管牵头",
            "expected_version": chosen.version,
        },
    )
    assert response.status_code == 302 and response["Location"] == "/cases/fallback/"
    chosen.refresh_from_db()
    other.refresh_from_db()
    assert chosen.state == State.ASSIGNED and chosen.lead_department == world.urban
    assert list(chosen.assists.values_list("department__code", "summoned")) == [("SJ", True)]
    assert other.state == State.FALLBACK
    assert other.number in text_of(client.get("/cases/fallback/"))


def test_pool_offers_no_button_for_a_case_only_a_supervisor_may_dispatch(
    client, cast, world, report
):
    case = report(category=None)
    for _ in range(2):  # returned twice: a supervisor arbitrates (SPEC §2)
        case = workflow.case_dispatch(case=case, actor=cast.dispatcher, lead=world.urban)
        case = workflow.case_return(case=case, actor=cast.liaison, reason="不归我们管")
    assert case.needs_arbitration
    client.force_login(cast.dispatcher)
    response = client.get("/cases/fallback/")
    assert [may for _case, may in response.context["rows"]] == [False]
    assert response.context["dispatch_form"] is None
    client.force_login(cast.supervisor)
    response = client.get("/cases/fallback/")
    assert [may for _case, may in response.context["rows"]] == [True]
    assert 'class="dispatch-case"' in text_of(response)


# -- the count -----------------------------------------------------------------------------


def test_a_list_within_the_limit_is_counted_exactly(client, cast, report, monkeypatch):
    monkeypatch.setattr(pagination, "EXACT_COUNT_LIMIT", 3)
    for _ in range(3):
        report()
    client.force_login(cast.caseworker)
    page = client.get("/cases/").context["page"]
    assert (page.paginator.count, page.paginator.count_is) == (3, "exact")


def test_a_filtered_list_past_the_limit_stops_counting_and_says_more_than(
    client, cast, report, monkeypatch
):
    monkeypatch.setattr(pagination, "EXACT_COUNT_LIMIT", 3)
    for _ in range(5):
        report()
    client.force_login(cast.caseworker)  # their township's cases: a filtered list
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/cases/")
    paginator = response.context["page"].paginator
    assert (paginator.count, paginator.count_is) == (3, "lower_bound")
    assert "more than 3 cases" in text_of(response)
    counts = [q["sql"] for q in queries.captured_queries if "COUNT(*)" in q["sql"]]
    assert len(counts) == 1 and "LIMIT 4" in counts[0]
    # The admin's changelist counts the same way, and says so.
    client.force_login(cast.liaison)
    response = client.get(CHANGELIST)
    assert response.context["cl"].result_count == 3
    assert "more than 3 cases" in text_of(response)


def test_the_audit_list_stops_counting_at_the_limit_and_reads_no_dates_of_every_row(
    client, cast, report, monkeypatch
):
    """A department's audit trail runs to millions of rows at a district's scale: the list
    counts as the case list does, and has no date hierarchy, whose first and last dates
    and list of months each read every row in scope."""
    monkeypatch.setattr(pagination, "EXACT_COUNT_LIMIT", 3)
    for _ in range(3):
        report()  # two audit rows each, route included
    sync_role_groups(users=[cast.liaison])
    client.force_login(cast.liaison)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("admin:cases_caseevent_changelist"))
    assert response.status_code == 200
    assert "more than 3 audit events: filter to narrow them" in text_of(response)
    reads = [q["sql"] for q in queries.captured_queries if '"cases_caseevent"' in q["sql"]]
    counts = [sql for sql in reads if "COUNT(*)" in sql]
    assert len(counts) == 1 and "LIMIT 4" in counts[0]
    assert not [sql for sql in reads if "DATE_TRUNC" in sql or "MIN(" in sql]


def test_an_unfiltered_list_past_the_limit_shows_the_tables_estimate(
    client, cast, report, monkeypatch
):
    monkeypatch.setattr(pagination, "EXACT_COUNT_LIMIT", 3)
    for _ in range(5):
        report()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE cases_case")
    client.force_login(staff(cast.district_supervisor))  # every case: no filter at all
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/cases/")
    paginator = response.context["page"].paginator
    assert (paginator.count, paginator.count_is) == (5, "estimate")
    assert "about 5 cases" in text_of(response)
    assert not [q for q in queries.captured_queries if "COUNT(*)" in q["sql"]]
    response = client.get(CHANGELIST)
    assert "about 5 cases" in text_of(response)


def test_a_list_past_the_limit_pages_no_deeper_than_the_limit(client, cast, report, monkeypatch):
    monkeypatch.setattr(pagination, "EXACT_COUNT_LIMIT", 3)
    for _ in range(5):
        report()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE cases_case")
    paginator = pagination.CasePaginator(Case.objects.order_by("-created_at", "-pk"), 1)
    assert (paginator.count, paginator.count_is) == (5, "estimate")
    assert paginator.num_pages == 3  # not 5: no page deeper than the limit's rows
    with pytest.raises(EmptyPage):
        paginator.page(4)


# -- query counts that do not grow with the cases -----------------------------------------


def more_of_everything(cast, world, report, n=6):
    for _ in range(n):
        report()
        report(category=None).assists.create(department=world.urban)
        assisted = workflow.case_dispatch(
            case=report(category=world.stall, cell=world.n2),
            actor=cast.dispatcher,
            lead=world.market,
            assisting=[world.urban],
        )
        assert assisted.state == State.ASSIGNED
        workflow.case_dispatch(  # a whistle the market department has yet to answer
            case=report(category=None),
            actor=cast.dispatcher,
            lead=world.urban,
            assisting=[world.market],
            whistle=True,
        )


@pytest.mark.parametrize(
    "who, url",
    [
        ("liaison", "/cases/"),
        ("other_liaison", "/cases/"),  # summoned, yet to report for duty
        ("dispatcher", "/cases/fallback/"),
        ("liaison", CHANGELIST),
        ("other_liaison", CHANGELIST),  # summoned: the time to report for duty
        ("other_liaison", f"{CHANGELIST}?o={TIME_LEFT_COLUMN}"),  # sorted by it
        ("caseworker", "/cases/"),
        ("caseworker", "/cases/fallback/"),
        ("district_supervisor", "/cases/"),
        ("district_supervisor", "/cases/fallback/"),
        ("district_supervisor", CHANGELIST),
        ("district_supervisor", f"{CHANGELIST}?o=-{TIME_LEFT_COLUMN}"),
        ("liaison", "/cases/?q=垃圾"),
        ("district_supervisor", "/cases/?q=路边"),  # the search's bigram prefilter
        ("caseworker", "/cases/?q=20"),
        ("dispatcher", "/cases/?awaiting_duty=on"),
    ],
)
def test_list_pages_query_count_does_not_grow_with_the_cases(
    client, cast, world, report, who, url, django_assert_max_num_queries
):
    more_of_everything(cast, world, report, n=1)
    user = getattr(cast, who)
    staff(user)
    client.force_login(user)
    with django_assert_max_num_queries(15) as few:
        assert client.get(url).status_code == 200
    more_of_everything(cast, world, report, n=6)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(url)
    rows = response.context.get("rows")
    page = response.context["cl"].result_list if "cl" in response.context else None
    shown = len(rows) if rows is not None else len(page or response.context["page"])
    assert shown > 3


def test_the_changelist_counts_once_and_offers_no_facet_counts(client, cast, report):
    report()
    client.force_login(cast.liaison)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(CHANGELIST, {"_facets": "True"})
    assert response.status_code == 200
    assert "Show counts" not in text_of(response)
    assert len([q for q in queries.captured_queries if "COUNT(" in q["sql"]]) == 1


def test_the_pool_keeps_the_lead_a_dispatch_from_it_named(client, cast, world, report):
    """Back from dispatching one case, the next is often for the same department."""
    report(category=None)
    client.force_login(cast.dispatcher)
    kept = client.get(f"/cases/fallback/?lead={world.urban.pk}").context["dispatch_form"]
    assert kept["lead"].value() == world.urban.pk
    # "²" and "①" are digits to str.isdigit(), and no id to int().
    for junk in ("abc", "-1", "", "²", "①"):
        form = client.get(f"/cases/fallback/?lead={junk}").context["dispatch_form"]
        assert form["lead"].value() in (None, ""), junk


def due_cells(response) -> dict[str, str]:
    """The list's "Due" cell of each case, by number."""
    rows = re.findall(
        r'<tr class="case-row[^"]*"[^>]*>\s*<td class="one-line"[^>]*><a href="/cases/([^/]+)/">'
        r".*?<td[^>]*>([^<]*)</td>\s*</tr>",  # labelled for a phone's cards
        text_of(response),
        re.S,
    )
    return dict(rows)


def test_the_list_says_what_a_suspended_cases_stopped_clock_keeps_where_its_due_date_was(
    client, cast, report, django_assert_max_num_queries
):
    """A suspended case's "Due" cell was empty (its due date goes when its clock stops),
    while its page and the admin's column said what the stopped clock keeps."""
    # Monday 2026-03-02 10:00 in Shanghai; rubbish must be accepted within 2 working hours.
    with time_machine.travel(datetime(2026, 3, 2, 2, 0, tzinfo=UTC), tick=False):
        cases = [report() for _ in range(5)]
    with time_machine.travel(datetime(2026, 3, 2, 3, 0, tzinfo=UTC), tick=False):  # 11:00
        workflow.case_suspend(case=cases[0], actor=cast.supervisor, reason="待专项整治")
    client.force_login(cast.caseworker)
    url = reverse("cases:list")
    # A week on, nothing has run down: the clock stopped.
    with time_machine.travel(datetime(2026, 3, 9, 2, 0, tzinfo=UTC), tick=False):
        with django_assert_max_num_queries(15) as few:
            cells = due_cells(client.get(url))
        # Read now: the next request resets the connection's log the count is taken from.
        queries = len(few.captured_queries)
        assert cells[cases[0].number] == "Clock stopped: 1 hour of working time left"
        chinese = due_cells(client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans"))
        assert chinese[cases[0].number] == "计时已暂停：剩余工作时间 1 小时"

        for case in cases[1:]:
            workflow.case_suspend(case=case, actor=cast.supervisor, reason="待专项整治")
        # From each case's own row: no query per suspended case.
        with django_assert_max_num_queries(queries):
            cells = due_cells(client.get(url))
    assert all(cells[case.number].startswith("Clock stopped: ") for case in cases)


# -- the search ----------------------------------------------------------------------------


def test_a_search_without_letters_reads_the_texts_as_written_and_one_with_letters_in_any_case(
    client, cast, report
):
    """Chinese, digits and case numbers have no upper case: a district's search for them
    does not upper-case every row's texts (a third of the scan's cost)."""
    lamp = report(description="路灯不亮 Lamp", address="人民路 12 号")
    report()
    client.force_login(cast.caseworker)
    for search in ("路灯", "人民路 12", lamp.number[-4:], "LAMP", "lamp"):
        with CaptureQueriesContext(connection) as queries:
            page = client.get("/cases/", {"q": search}).context["page"]
        assert [case.number for case in page] == [lamp.number], search
        searches = [q["sql"] for q in queries.captured_queries if " LIKE " in q["sql"]]
        assert searches, search
        upper_cased = [sql for sql in searches if "UPPER(" in sql]
        assert bool(upper_cased) == (search in ("LAMP", "lamp")), search


def test_a_dispatcher_lists_the_cases_whose_summoned_departments_have_not_reported(
    client, cast, world, report
):
    """A whistle summons departments to report for duty (报到); the dispatcher who blew it
    had no list of those still to come, only each case's page."""
    from cases.services.liaison import assist_report_for_duty

    waiting = whistled_to_market(report, cast, world)
    answered = whistled_to_market(report, cast, world)
    assist_report_for_duty(case=answered, actor=cast.other_liaison)
    cancelled = whistled_to_market(report, cast, world)
    Case.objects.filter(pk=cancelled.pk).update(state=State.CANCELLED)
    report()  # no whistle at all
    client.force_login(cast.dispatcher)
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/cases/", {"awaiting_duty": "on"})
    assert [case.number for case in response.context["page"]] == [waiting.number]
    assert "Summoned departments yet to report for duty" in text_of(response)
    # The waiting summonses' cases by their ids, not each case probed for a summons, nor the
    # summonses joined to every open case: few wait, but PostgreSQL cannot tell how few (at
    # a million cases, 0.6-1 s).
    assert not [q for q in queries if '"cases_case"' in q["sql"] and "caseassist" in q["sql"]]


def whistled_to_market(report, cast, world):
    """A pooled case dispatched to the urban department, the whistle summoning the market's."""
    return workflow.case_dispatch(
        case=report(category=None),
        actor=cast.dispatcher,
        lead=world.urban,
        assisting=[world.market],
        whistle=True,
    )


def test_a_summoned_departments_list_shows_its_deadline_to_report_for_duty_until_it_has(
    client, cast, world, report, settings
):
    """The lead's clock runs days; the whistle gives the summoned department hours to
    report for duty (报到), which its liaison's list showed nowhere: the lead's due date
    stood in the case's row."""
    from cases.services.liaison import assist_report_for_duty

    settings.LANGUAGE_CODE = "en"
    with time_machine.travel(datetime(2026, 3, 10, 2, tzinfo=UTC), tick=False):  # 10:00
        case = whistled_to_market(report, cast, world)
        summons = case.assists.get(department=world.market)
        assert summons.report_due_at < case.due_at

        client.force_login(cast.other_liaison)  # the market department's
        response = client.get("/cases/")
        row = response.context["page"][0]
        assert row.summons_due_at == summons.report_due_at
        shown = due_cells(response)[case.number]
        assert shown.startswith("Report for duty by")
        assert "overdue" not in shown

        client.force_login(cast.liaison)  # the lead's liaison: the lead's clock
        assert not due_cells(client.get("/cases/"))[case.number].startswith("Report")

    with time_machine.travel(summons.report_due_at + timedelta(minutes=1), tick=False):
        client.force_login(cast.other_liaison)
        late = client.get("/cases/")
        assert due_cells(late)[case.number].endswith("· overdue")
        assert 'class="case-row state-assigned overdue"' in text_of(late)
        assist_report_for_duty(case=case, actor=cast.other_liaison)
        after = client.get("/cases/")
    # Reported: the lead's clock is the one that matters to the case now.
    assert after.context["page"][0].summons_due_at is None
    assert not due_cells(after)[case.number].startswith("Report")
    assert "overdue" not in due_cells(after)[case.number]


def test_a_finished_cases_summons_is_not_shown_as_a_deadline(client, cast, world, report):
    """A summons nobody answered stays on a case that was closed or cancelled meanwhile: the
    summoned department's lists tell it no time to report for duty there."""
    waiting, cancelled = (whistled_to_market(report, cast, world) for _ in range(2))
    Case.objects.filter(pk=cancelled.pk).update(state=State.CANCELLED)
    client.force_login(cast.other_liaison)
    rows = {case.number: case for case in client.get("/cases/").context["page"]}
    assert rows[waiting.number].summons_due_at is not None
    assert rows[cancelled.number].summons_due_at is None
    with CaptureQueriesContext(connection) as queries:
        changelist = client.get("/admin/cases/case/", {"o": TIME_LEFT_COLUMN})
    shown = {case.number: case.shown_due_at for case in changelist.context["cl"].result_list}
    assert shown[cancelled.number] == cancelled.due_at
    assert shown[waiting.number] == waiting.assists.get().report_due_at
    # Asked of open cases by their own row's state, not by joining each case again: sorted
    # by time left, a liaison's list at a million cases ran it for 301,349 cases.
    (listing,) = [q["sql"] for q in queries if "ORDER BY" in q["sql"] and "summons" in q["sql"]]
    assert 'INNER JOIN "cases_case"' not in listing, listing


def test_the_time_left_to_report_for_duty_is_in_working_time(cast, world, report):
    """For the admin's "working time left" column, as the lead's clock is told there."""
    from cases.selectors.lists import with_summons_due
    from cases.time_words import summons_time_left
    from departments.calendar import get_calendar

    calendar = get_calendar()
    with time_machine.travel(datetime(2026, 3, 10, 2, tzinfo=UTC), tick=False):  # Tue 10:00
        case = whistled_to_market(report, cast, world)
        listed = with_summons_due(Case.objects.filter(pk=case.pk), cast.other_liaison).get()
        left = summons_time_left(listed, calendar=calendar)
        assert left.startswith("Report for duty: ") and left.endswith(" left")
        lead = with_summons_due(Case.objects.filter(pk=case.pk), cast.liaison).get()
        assert summons_time_left(lead, calendar=calendar) == ""
    due = listed.summons_due_at
    later = calendar.add_working_seconds(due, 3600)
    assert summons_time_left(listed, calendar=calendar, now=later) == (
        "Report for duty: overdue by 1 hour"
    )
