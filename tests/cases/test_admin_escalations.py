"""Escalations and sweep runs in the admin: administrators read them, with filters that
work and lists that cost the same few queries however long they are."""

import re
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from cases.admin.escalations import EscalationAdmin
from cases.models import Escalation, OutboxMessage, SweepRun
from cases.services.acknowledgement import ack_token
from cases.services.outbox.enqueue import build_message, enqueue_email
from departments.models import User
from departments.services import sync_role_groups
from tests.cases.test_i18n import compiled_catalogue  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db


@pytest.fixture
def keeper(world):
    """An administrator by role alone, not a superuser."""
    user = User.objects.create_user(
        username="keeper", password="pass-for-tests-1", email="keeper@example.org", role="admin"
    )
    sync_role_groups(users=[user])
    return user


def escalate(cases, world, *, acknowledged=False, level=1):
    """An accept escalation per case, at level 1 unless told: even ones owned by the urban
    department, odd ones by the north township's fallback pool."""
    now = timezone.now()
    return Escalation.objects.bulk_create(
        Escalation(
            case=case,
            deadline_seq=case.deadline_seq,
            deadline_kind="accept",
            level=level,
            due_at=now,
            deadline_at=now,
            sweep_id=uuid.uuid4(),
            department=world.urban if i % 2 == 0 else None,
            township=world.north,
            acknowledged_at=now if acknowledged else None,
            acknowledged_by_email="cg-boss@example.org" if acknowledged else "",
        )
        for i, case in enumerate(cases)
    )


def test_an_administrator_sees_escalations_with_owner_and_a_link_to_the_case(
    client, keeper, report, world
):
    case, pooled = report(), report(description="无人认领")
    escalate([case, pooled], world)
    client.force_login(keeper)
    response = client.get(reverse("admin:cases_escalation_changelist"))
    assert response.status_code == 200
    assert reverse("admin:cases_case_change", args=[case.pk]) in response.text
    assert "城管局" in response.text
    assert "fallback pool of 北街道" in response.text


def test_the_escalation_list_names_a_level_as_the_acknowledge_page_does(
    client,
    keeper,
    report,
    world,
    compiled_catalogue,  # noqa: F811
):
    [escalation] = escalate([report()], world, level=3)
    # To the department's listed supervisor: a link to an address nobody uses is refused.
    token = ack_token(escalation_pk=escalation.pk, address="cg-boss@example.org")
    ack = f"/escalations/ack/{token}/"
    chinese = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}
    assert "3 级督办" in client.get(ack, **chinese).text
    client.force_login(keeper)
    listed = client.get(reverse("admin:cases_escalation_changelist"), **chinese).text
    assert '<td class="field-level">3 级</td>' in listed
    assert "三级" not in listed


def test_an_escalation_page_is_titled_with_the_case_number_and_the_rung_in_words(
    client,
    keeper,
    report,
    world,
    compiled_catalogue,  # noqa: F811
):
    case = report()
    [escalation] = escalate([case], world, level=2)
    client.force_login(keeper)
    url = reverse("admin:cases_escalation_change", args=[escalation.pk])
    page = client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert page.context["subtitle"] == f"{case.number}：受理时限 2 级"
    assert f"<title>{case.number}：受理时限 2 级 |" in page.text


def test_escalations_filter_by_acknowledgement_level_and_deadline(client, keeper, report, world):
    [open_one] = escalate([report()], world)
    [done] = escalate([report(description="已确认")], world, acknowledged=True)
    client.force_login(keeper)
    url = reverse("admin:cases_escalation_changelist")

    def listed(**query):
        return list(client.get(url, query).context["cl"].result_list)

    assert listed(acknowledged="yes") == [done]
    assert listed(acknowledged="no") == [open_one]
    assert listed(level__exact="1", deadline_kind="accept") == [done, open_one]
    assert listed(deadline_kind="resolve") == []
    assert listed(q=done.case.number) == [done]


def test_the_escalation_list_sorts_by_time_alone_in_the_order_of_its_ids(
    client, keeper, report, world
):
    """A sort by another column read and sorted every escalation (0.35-0.8 s at 790,000);
    the time's column, newest first by default, is read from the primary key's index."""
    first, second = escalate([report(), report()], world)
    client.force_login(keeper)
    url = reverse("admin:cases_escalation_changelist")
    page = client.get(url).text
    assert re.findall(r'class="sortable column-(\w+)', page) == ["escalated_at"]
    level_column = str(EscalationAdmin.list_display.index("level"))
    # A sort typed into the address by a column left out of sortable_by sorts by time.
    for order, expected in (
        ("", [second, first]),
        ("0", [first, second]),
        (level_column, [second, first]),
    ):
        with CaptureQueriesContext(connection) as queries:
            listed = client.get(url, {"o": order} if order else {})
        assert list(listed.context["cl"].result_list) == expected
        (listing,) = [q["sql"] for q in queries if "ORDER BY" in q["sql"]]
        assert re.search(r'ORDER BY "cases_escalation"."id" (ASC|DESC)( LIMIT \d+)?$', listing)


def test_the_escalation_list_costs_the_same_queries_for_2_and_20_rows(
    client, keeper, report, world
):
    cases = [report(description=f"垃圾 {i}") for i in range(20)]
    escalate(cases[:2], world)
    client.force_login(keeper)
    url = reverse("admin:cases_escalation_changelist")
    client.get(url)
    with CaptureQueriesContext(connection) as two:
        assert len(client.get(url).context["cl"].result_list) == 2
    escalate(cases[2:], world)
    with CaptureQueriesContext(connection) as twenty:
        assert len(client.get(url).context["cl"].result_list) == 20
    assert len(twenty) == len(two)


def test_an_escalation_page_lists_its_emails_for_the_same_queries_for_2_and_20(
    client, keeper, report, world
):
    [escalation] = escalate([report()], world)
    client.force_login(keeper)
    url = reverse("admin:cases_escalation_change", args=[escalation.pk])

    def add_messages(start, stop):
        OutboxMessage.objects.bulk_create(
            build_message(
                to=f"boss{i}@example.org",
                subject="s",
                text="t",
                kind="escalation",
                dedupe_key=f"escalation:{escalation.pk}:{i}",
                case=escalation.case,
                escalation=escalation,
            )
            for i in range(start, stop)
        )

    add_messages(0, 2)
    client.get(url)
    with CaptureQueriesContext(connection) as two:
        assert client.get(url).status_code == 200
    add_messages(2, 20)
    with CaptureQueriesContext(connection) as twenty:
        response = client.get(url)
    assert "boss19@example.org" in response.text
    assert len(twenty) == len(two)


def test_sweep_runs_list_for_the_same_queries_for_2_and_20_and_filter_by_outcome(client, keeper):
    now = timezone.now()

    def runs(count, **fields):
        return SweepRun.objects.bulk_create(
            SweepRun(started_at=now - timedelta(minutes=i), clock=now, **fields)
            for i in range(count)
        )

    runs(1, finished_at=now, escalated=3)
    [broken] = runs(1, error="OperationalError: the database went away")
    client.force_login(keeper)
    url = reverse("admin:cases_sweeprun_changelist")
    client.get(url)
    with CaptureQueriesContext(connection) as two:
        response = client.get(url)
    assert "OperationalError" in response.text
    runs(18, finished_at=now)
    with CaptureQueriesContext(connection) as twenty:
        assert len(client.get(url).context["cl"].result_list) == 20
    assert len(twenty) == len(two)
    assert list(client.get(url, {"outcome": "failed"}).context["cl"].result_list) == [broken]
    detail = client.get(reverse("admin:cases_sweeprun_change", args=[broken.pk]))
    assert detail.status_code == 200


def test_an_escalation_and_its_emails_name_every_field_in_chinese(
    client,
    keeper,
    report,
    world,
    compiled_catalogue,  # noqa: F811
):
    [escalation] = escalate([report()], world)
    enqueue_email(
        to="cg-boss@example.org",
        subject="督办",
        text="body",
        kind="escalation",
        dedupe_key="labels",
        case=escalation.case,
        escalation=escalation,
    )
    client.force_login(keeper)
    chinese = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}
    page = client.get(reverse("admin:cases_escalation_change", args=[escalation.pk]), **chinese)
    assert "巡查" in page.text and "Sweep id" not in page.text
    message = OutboxMessage.objects.get(dedupe_key="labels")
    page = client.get(reverse("admin:cases_outboxmessage_change", args=[message.pk]), **chinese)
    assert ">Case:<" not in page.text and ">Escalation:<" not in page.text
    assert ">案件：<" in page.text and ">督办：<" in page.text


def test_a_sweep_run_links_to_the_escalations_it_wrote(client, keeper, report, world):
    from cases.services.escalation import escalation_sweep

    earlier = escalate([report(description="上一轮")], world)
    case = report()
    result = escalation_sweep(now=case.due_at + timedelta(hours=1))
    assert result.escalated_count >= 1
    run = SweepRun.objects.get(sweep_id=result.sweep_id)
    client.force_login(keeper)
    listed = client.get(reverse("admin:cases_sweeprun_changelist")).text
    link = f"{reverse('admin:cases_escalation_changelist')}?sweep_id={run.sweep_id}"
    assert f'href="{link}"' in listed
    shown = client.get(link).context["cl"].result_list
    assert {e.pk for e in shown} == {e.pk for e in result.escalations}
    assert earlier[0].pk not in {e.pk for e in shown}


def test_a_sweep_runs_page_is_titled_with_its_local_time_in_the_readers_language(
    client,
    keeper,
    settings,
    compiled_catalogue,  # noqa: F811
):
    # Its title, breadcrumb and <title> read "sweep 2026-11-24 02:00:05": the time in UTC,
    # eight hours from the "started" field beside it, and in English on a Chinese page.
    settings.TIME_ZONE = "Asia/Kolkata"
    started = datetime(2026, 11, 24, 10, 0, 5, tzinfo=ZoneInfo("Asia/Kolkata"))
    run = SweepRun.objects.create(started_at=started, clock=started)
    client.force_login(keeper)
    url = reverse("admin:cases_sweeprun_change", args=[run.pk])
    english = client.get(url, HTTP_ACCEPT_LANGUAGE="en").text
    assert "<h2>escalation sweep 2026-11-24 10:00:05</h2>" in english
    assert "04:30:05" not in english
    chinese = client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans").text
    assert "<h2>督办巡查 2026-11-24 10:00:05</h2>" in chinese
