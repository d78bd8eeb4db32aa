"""The email to a case's arbiters when it is returned a second time (SPEC §2: "a case
returned twice goes to a supervisor for arbitration"): nobody was told. Written to the
outbox with the return, delivered after the commit by the outbox, once, in each arbiter's
language; here through a real SMTP server on loopback."""

from datetime import timedelta

import pytest
from django.utils import timezone

from cases.models import OutboxMessage
from cases.services import workflow
from cases.services.outbox.sending import deliver
from departments.models import User
from tests.cases.test_i18n import compiled_catalogue  # noqa: F401  (fixture)
from tests.conftest import make_user
from tests.smtp import running_smtp_server


@pytest.fixture
def smtp(settings):
    yield from running_smtp_server(settings)


def return_twice(case, cast, world):
    workflow.case_return(case=case, actor=cast.liaison, reason="不属于城管，请联系13812345678")
    workflow.case_dispatch(case=case, actor=cast.dispatcher, lead=world.market)
    workflow.case_return(case=case, actor=cast.other_liaison, reason="不属于市场监管")


def body(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def test_the_township_supervisors_are_emailed_once_after_the_second_return_commits(
    cast, world, report, smtp, settings, django_capture_on_commit_callbacks
):
    settings.SITE_URL = "https://grid.example.org"
    case = report(description="责任不清的垃圾")
    with django_capture_on_commit_callbacks() as first_return:
        workflow.case_return(case=case, actor=cast.liaison, reason="不属于城管，请联系13812345678")
    assert not first_return and not OutboxMessage.objects.filter(kind="arbitration").exists()
    workflow.case_dispatch(case=case, actor=cast.dispatcher, lead=world.market)

    with django_capture_on_commit_callbacks() as after_commit:
        workflow.case_return(case=case, actor=cast.other_liaison, reason="不属于市场监管")

    # Written with the return; nothing sent until the transaction commits.
    (row,) = OutboxMessage.objects.filter(kind="arbitration")
    assert (row.to, row.status, row.case_id) == (cast.supervisor.email, "pending", case.pk)
    assert len(after_commit) == 1 and smtp.inbox.messages == []
    # The district's supervisor may arbitrate too, but the township's leaders are told.
    assert not OutboxMessage.objects.filter(to=cast.district_supervisor.email).exists()

    assert deliver(message_pk=row.pk).outcome == "sent"
    assert deliver(message_pk=row.pk).outcome == "skipped"  # a task delivered twice
    (sent,) = smtp.inbox.messages
    assert sent["To"] == cast.supervisor.email and sent["Message-ID"] == row.message_id
    assert sent["Subject"] == f"[{case.number}] Returned twice: choose who leads (arbitration)"
    text = body(sent)
    assert f"Case {case.number} was returned twice and waits for your arbitration" in text
    first, second = [line for line in text.splitlines() if line.startswith("- ")]
    assert "城管局 (Liaison): 不属于城管，请联系138****5678" in first
    assert "市场监管局 (Other_Liaison): 不属于市场监管" in second
    assert f"https://grid.example.org/cases/{case.number}/#dispatch" in text
    html = sent.get_body(preferencelist=("html",)).get_content()
    assert f"/cases/{case.number}/#dispatch" in html


def test_each_arbiter_reads_it_in_their_language(
    cast,
    world,
    report,
    compiled_catalogue,  # noqa: F811
):
    User.objects.filter(pk=cast.supervisor.pk).update(language="zh-hans")
    english = make_user("leader", User.Role.SUPERVISOR, township=world.north, language="en")
    case = report()
    return_twice(case, cast, world)
    messages = {m.to: m for m in OutboxMessage.objects.filter(kind="arbitration")}
    assert set(messages) == {cast.supervisor.email, english.email}
    chinese = messages[cast.supervisor.email]
    assert chinese.language == "zh-hans" and "仲裁" in chinese.subject
    assert "returned twice" not in chinese.text and "城管局" in chinese.text
    assert "Returned twice" in messages[english.email].subject


def test_a_township_without_supervisors_tells_the_districts(cast, world, report):
    User.objects.filter(pk=cast.supervisor.pk).update(is_active=False)
    case = report()
    return_twice(case, cast, world)
    (row,) = OutboxMessage.objects.filter(kind="arbitration")
    assert row.to == cast.district_supervisor.email


def test_a_case_waiting_for_arbitration_with_no_supervisor_to_tell_is_logged(
    cast, world, report, caplog
):
    User.objects.filter(pk__in=[cast.supervisor.pk, cast.district_supervisor.pk]).update(
        is_active=False
    )
    case = report()
    with caplog.at_level("WARNING", logger="cases.services.arbitration_mail"):
        return_twice(case, cast, world)
    assert not OutboxMessage.objects.filter(kind="arbitration").exists()
    # Its own logger's: in a year the calendar library does not know, the calendar warns too.
    (warning,) = [
        r.getMessage()
        for r in caplog.records
        if r.name == "cases.services.arbitration_mail" and r.levelname == "WARNING"
    ]
    assert f"Case {case.number} waits for arbitration" in warning
    assert "neither its township nor the district has an active supervisor" in warning


def test_a_mail_server_down_delays_the_email_and_it_goes_when_it_is_back(cast, world, report, smtp):
    smtp.stop()  # down when the worker first tries
    case = report()
    return_twice(case, cast, world)
    row = OutboxMessage.objects.get(kind="arbitration")
    tried = deliver(message_pk=row.pk)
    assert tried.outcome != "sent" and tried.retry_in is not None
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("pending", 1)

    smtp.start()
    later = timezone.now() + timedelta(seconds=tried.retry_in)
    assert deliver(message_pk=row.pk, now=later).outcome == "sent"
    assert [m["To"] for m in smtp.inbox.messages] == [cast.supervisor.email]


def test_an_email_still_waiting_when_a_supervisor_has_arbitrated_is_not_sent(
    cast, world, report, smtp
):
    # A backlog or a mail server down: sent late, it would call a supervisor to a case that
    # no longer waits for anyone.
    case = report()
    return_twice(case, cast, world)
    row = OutboxMessage.objects.get(kind="arbitration")
    workflow.case_dispatch(case=case, actor=cast.district_supervisor, lead=world.urban)

    assert deliver(message_pk=row.pk).outcome == "outdated"
    row.refresh_from_db()
    assert row.status == "outdated" and smtp.inbox.messages == []


def test_an_email_of_a_case_still_waiting_for_arbitration_is_sent_late(cast, world, report, smtp):
    case = report()
    return_twice(case, cast, world)
    row = OutboxMessage.objects.get(kind="arbitration")
    later = timezone.now() + timedelta(days=3)

    assert deliver(message_pk=row.pk, now=later).outcome == "sent"
    assert [m["To"] for m in smtp.inbox.messages] == [cast.supervisor.email]
