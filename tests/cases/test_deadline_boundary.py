"""A case exactly at its deadline (SPEC §4): the sweep escalates it (level 1 "when a
deadline passes", `due_at <= now`), so every other reader of "overdue" must say so too:
the /cases/ filter and list, the case page, the dashboard's counts and due-soon list, the
admin's deadline filter, the escalate_overdue command."""

from datetime import datetime
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from django.urls import reverse

from cases.models import Case
from cases.services.escalation import escalation_sweep
from cases.services.figures import figures_refresh

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Monday 23 November 2026: rubbish reported at 10:00 has 2 working hours to be accepted.
REPORTED_AT = datetime(2026, 11, 23, 10, tzinfo=SHANGHAI)
DEADLINE = datetime(2026, 11, 23, 12, tzinfo=SHANGHAI)


@pytest.fixture
def at_deadline(report):
    with time_machine.travel(REPORTED_AT, tick=False):
        case = report()
    assert case.due_at == DEADLINE
    with time_machine.travel(DEADLINE, tick=False):
        yield case


def test_the_sweep_and_the_command_escalate_a_case_at_its_deadline(at_deadline, cast):
    assert [e.level for e in escalation_sweep(now=DEADLINE, dry_run=True).escalated] == [1]
    out = StringIO()
    call_command("escalate_overdue", "--dry-run", "--now", DEADLINE.isoformat(), stdout=out)
    assert f"{at_deadline.number} accept level 1" in out.getvalue()


def test_a_case_at_its_deadline_is_overdue_in_the_model_and_the_lists(client, at_deadline, cast):
    assert Case.objects.overdue().filter(pk=at_deadline.pk).exists()
    assert at_deadline.is_overdue
    client.force_login(cast.caseworker)
    listed = client.get("/cases/", {"overdue": "on"})
    assert [case.number for case in listed.context["page"]] == [at_deadline.number]
    page = client.get(f"/cases/{at_deadline.number}/")
    assert 'class="deadline overdue"' in page.text


def test_the_case_page_at_its_deadline_says_it_has_just_passed_once(client, at_deadline, cast):
    """Not "overdue by 0 minutes (overdue, the deadline has just passed)": the calendar's
    0 minutes says nothing, and the working time's words say it all."""
    import re

    client.force_login(cast.caseworker)
    for language, words in [
        ("en", "overdue, the deadline has just passed"),
        ("zh-hans", "已超期，刚过期限"),
    ]:
        page = client.get(f"/cases/{at_deadline.number}/", HTTP_ACCEPT_LANGUAGE=language)
        due = re.search(r'<dd class="deadline overdue">(.*?)</dd>', page.text, re.S)[1]
        shown = " ".join(re.sub(r"<[^>]+>", " ", due).split())
        assert shown.endswith(f"· {words}"), (language, shown)
        assert shown.count(words) == 1 and "0 minutes" not in shown and "0 分钟" not in shown


def test_the_dashboard_counts_a_case_at_its_deadline_as_overdue_not_due_soon(
    client, at_deadline, cast
):
    figures_refresh(everything=True)
    client.force_login(cast.supervisor)
    figures = client.get("/dashboard/").context["figures"]
    assert figures["overdue_now"] == 1
    assert figures["totals"]["overdue"] == 1
    assert figures["due_soon"] == []


def test_the_dashboards_roll_up_counts_a_deadline_reached_since_its_last_refresh(
    client, report, cast
):
    with time_machine.travel(REPORTED_AT, tick=False):
        report()
        figures_refresh(everything=True)
    with time_machine.travel(DEADLINE, tick=False):
        figures_refresh()
        client.force_login(cast.supervisor)
        assert client.get("/dashboard/").context["figures"]["totals"]["overdue"] == 1


def test_the_admins_deadline_filter_puts_a_case_at_its_deadline_under_overdue(
    client, at_deadline, cast
):
    client.force_login(cast.liaison)
    changelist = reverse("admin:cases_case_changelist")
    overdue = client.get(changelist, {"deadline": "overdue"}).context["cl"].result_list
    soon = client.get(changelist, {"deadline": "soon"}).context["cl"].result_list
    assert (list(overdue), list(soon)) == ([at_deadline], [])


def test_a_case_suspended_at_its_deadline_keeps_a_clock_that_says_overdue(at_deadline, cast):
    """Suspended at the very moment it became overdue: no working time ran past the
    deadline, yet its stopped clock says overdue, and it is overdue again when resumed."""
    from cases.services import workflow
    from cases.time_words import stopped_clock_words

    workflow.case_suspend(case=at_deadline, actor=cast.supervisor, reason="待专项整治")
    at_deadline.refresh_from_db()
    assert "overdue" in stopped_clock_words(at_deadline)
    workflow.case_resume(case=at_deadline, actor=cast.supervisor)
    assert Case.objects.get(pk=at_deadline.pk).is_overdue
