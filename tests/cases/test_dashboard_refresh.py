"""/dashboard/ while another refresh holds the roll-up's lock (the beat's first build after
an upgrade): the page answers at once with the figures it has, saying as of when."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from cases.models import FiguresMark
from cases.services.figures import LOCK_KEY, figures_refresh
from tests.conftest import page_at_once, refresh_under_way

AT_1402 = datetime(2026, 3, 10, 14, 2, tzinfo=ZoneInfo("Asia/Shanghai"))  # a Tuesday


# Committed: a refresh in the test's own transaction would hold the lock till its end.
@pytest.mark.django_db(transaction=True)
def test_the_dashboard_shows_the_last_figures_at_once_while_another_refresh_is_under_way(
    client, cast, report
):
    with time_machine.travel(AT_1402 - timedelta(hours=1, minutes=58), tick=False):
        report()  # to be accepted within 2 working hours: by 14:04, overdue after
    with time_machine.travel(AT_1402, tick=False):
        figures_refresh()
    with time_machine.travel(AT_1402 + timedelta(minutes=5)):
        fresh = report()
        client.force_login(cast.supervisor)
        with refresh_under_way(LOCK_KEY):
            page = page_at_once(client, "/dashboard/")
            chinese = page_at_once(client, "/dashboard/", HTTP_ACCEPT_LANGUAGE="zh-hans")
        assert "Figures as of 14:02; being brought up to date." in page.text
        assert "14:02 的数据" in chinese.text
        figures = page.context["figures"]
        # The roll-up as of that refresh: the second case is the next one's, and the first
        # was not overdue yet.
        assert (figures["totals"]["total"], figures["totals"]["overdue"]) == (1, 0)
        # The warnings read the cases as of now: the first is overdue, no longer due soon.
        assert figures["overdue_now"] == 1
        assert [case.number for case in figures["due_soon"]] == [fresh.number]

        page = client.get("/dashboard/")
        assert "being brought up to date" not in page.text  # nobody else at it: refreshed
        totals = page.context["figures"]["totals"]
        assert (totals["total"], totals["overdue"]) == (2, 1)


@pytest.mark.parametrize("built", [False, True], ids=["never", "in another time zone"])
@pytest.mark.django_db(transaction=True)
def test_the_dashboard_says_the_figures_are_being_built_rather_than_show_zeros(
    client, cast, report, built
):
    report()
    if built:
        figures_refresh()
        FiguresMark.objects.update(time_zone="UTC")  # TIME_ZONE changed since
    client.force_login(cast.supervisor)
    with refresh_under_way(LOCK_KEY):  # the first build of this TIME_ZONE's days
        page = page_at_once(client, "/dashboard/")
        chinese = page_at_once(client, "/dashboard/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "The figures are being built; try again in a minute." in page.text
    assert page.context["figures"]["building"]
    assert 'id="kpi-total"' not in page.text and "chart-data" not in page.text
    assert "try again" not in chinese.text and "分钟" in chinese.text
    page = client.get("/dashboard/")
    assert "being built" not in page.text
    assert page.context["figures"]["totals"]["total"] == 1
