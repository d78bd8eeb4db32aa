"""The overdue sweep (SPEC §4): the ladder, its recipients, exactly once per
(case, deadline, level), set-based, safe when two sweeps race, and the command."""

import contextlib
import json
import os
import signal
import smtplib
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from io import StringIO
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from cases import emails
from cases.models import Case, CaseEvent, Escalation, OutboxMessage, State, SweepRun
from cases.selectors.health import last_sweep_status
from cases.services import escalation as escalation_service
from cases.services import escalation_notices, extensions, workflow
from cases.services.escalation import escalation_sweep
from cases.services.outbox import foreground, publishing, sending
from cases.services.outbox.enqueue import enqueue_email
from cases.services.outbox.foreground import delivery_summary
from cases.services.outbox.publishing import publish, publish_sweep, sweep_pending_pks
from cases.services.outbox.sending import deliver, retry_delay
from departments.models import User
from tests.conftest import make_user
from tests.smtp import hung_smtp_server

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(month, day, hour, minute=0):
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


def sweep(moment, **kwargs):
    return escalation_sweep(now=moment, **kwargs)


def rungs(case=None):
    rows = Escalation.objects.all() if case is None else Escalation.objects.filter(case=case)
    return sorted(rows.values_list("case__number", "deadline_seq", "level"))


def mail_to(case, level):
    return sorted(
        OutboxMessage.objects.filter(case=case, escalation__level=level).values_list(
            "to", flat=True
        )
    )


@pytest.fixture
def report_at(report):
    def _report(moment, **overrides):
        with time_machine.travel(moment, tick=False):
            return report(**overrides)

    return _report


@pytest.fixture
def assigned(report_at):
    """Rubbish, led by CG: accept limit 2 h from Monday 10:00, so the reminder is at 11:30,
    level 1 at 12:00, level 2 at 13:00 and level 3 at 14:00."""
    return report_at(at(11, 23, 10))


def test_nothing_escalates_before_the_reminder_is_due(assigned, cast):
    result = sweep(at(11, 23, 11, 29))
    assert result.escalations == [] and rungs() == []


def test_the_due_soon_reminder_goes_to_the_owning_departments_liaisons(assigned, cast):
    result = sweep(at(11, 23, 11, 30))
    assert [e.level for e in result.escalations] == [0]
    assert mail_to(assigned, 0) == ["liaison@example.org"]
    assigned.refresh_from_db()
    assert assigned.escalation_level == 0  # a reminder is not an escalation


def test_the_ladder_climbs_one_level_at_a_time_to_the_right_people(assigned, cast):
    for moment, level in [
        (at(11, 23, 12), 1),
        (at(11, 23, 13), 2),
        (at(11, 23, 14), 3),
    ]:
        result = sweep(moment)
        assert [e.level for e in result.escalated] == [level]
        assigned.refresh_from_db()
        assert assigned.escalation_level == level
    assert mail_to(assigned, 1) == ["cg-boss@example.org"]
    assert mail_to(assigned, 2) == ["supervisor@example.org"]
    assert mail_to(assigned, 3) == ["district@example.org"]
    assert rungs() == [(assigned.number, 1, level) for level in (1, 2, 3)]


def test_each_level_escalates_once_however_often_the_sweep_runs(assigned, cast):
    sweep(at(11, 23, 12))
    for _ in range(3):
        assert sweep(at(11, 23, 12, 30)).escalations == []
    assert rungs() == [(assigned.number, 1, 1)]
    assert OutboxMessage.objects.count() == 1


def test_a_sweep_after_a_long_outage_records_every_level_reached(assigned, cast):
    result = sweep(at(11, 24, 16))
    assert [e.level for e in result.escalations] == [1, 2, 3]  # no stale reminder
    assigned.refresh_from_db()
    assert assigned.escalation_level == 3
    assert OutboxMessage.objects.count() == 3


def test_every_escalation_is_in_the_audit_trail(assigned, cast):
    sweep(at(11, 23, 13))
    events = CaseEvent.objects.filter(case=assigned, action="escalate").order_by("id")
    assert [e.data["level"] for e in events] == [1, 2]
    assert events[0].actor_label == "system"
    assert events[0].data["recipients"] == ["cg-boss@example.org"]


def test_the_audit_trail_pages_tell_the_escalation_levels_apart(client, assigned, cast):
    sweep(at(11, 23, 13))
    client.force_login(cast.admin)
    history = client.get(reverse("admin:cases_case_history", args=[assigned.pk])).text
    assert "level 1 · accept deadline → cg-boss@example.org" in history
    assert "level 2 · accept deadline" in history
    assert "<td>escalate</td>" not in history and "<td>escalated" in history
    change_page = client.get(reverse("admin:cases_case_change", args=[assigned.pk])).text
    assert "level 1 · accept deadline → cg-boss@example.org" in change_page
    client.force_login(cast.caseworker)
    timeline = client.get(reverse("cases:detail", args=[assigned.number])).text
    assert "level 1 · accept deadline → cg-boss@example.org" in timeline


def test_the_sweep_queues_delivery_after_its_commit(
    assigned, cast, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        sweep(at(11, 23, 12))
    assert len(callbacks) == 1
    assert OutboxMessage.objects.get().status == OutboxMessage.Status.PENDING


def test_a_new_deadline_climbs_the_ladder_afresh(assigned, cast):
    sweep(at(11, 23, 12))
    with time_machine.travel(at(11, 23, 12, 30), tick=False):
        workflow.case_accept(case=assigned, actor=cast.liaison)  # resolve clock, seq 2
    assigned.refresh_from_db()
    assert assigned.escalation_level == 0
    result = sweep(at(11, 24, 12, 30))  # one working day later
    assert [(e.deadline_seq, e.deadline_kind, e.level) for e in result.escalated] == [
        (2, "resolve", 1)
    ]


@pytest.mark.parametrize("final", ["resolved", "closed", "cancelled", "suspended"])
def test_cases_that_are_resolved_closed_cancelled_or_suspended_never_escalate(
    final, assigned, cast
):
    steps = {
        "resolved": [
            lambda c: workflow.case_accept(case=c, actor=cast.liaison),
            lambda c: workflow.case_resolve(case=c, actor=cast.liaison, note="已清理"),
        ],
        "cancelled": [lambda c: workflow.case_cancel(case=c, actor=cast.dispatcher, reason="重复")],
        "suspended": [
            lambda c: workflow.case_suspend(case=c, actor=cast.supervisor, reason="挂账")
        ],
    }
    steps["closed"] = [
        *steps["resolved"],
        lambda c: workflow.case_verify(case=c, actor=cast.caseworker),
    ]
    with time_machine.travel(at(11, 23, 11), tick=False):
        for step in steps[final]:
            step(assigned)
    assigned.refresh_from_db()
    assert assigned.state == final
    assert sweep(at(12, 31, 16)).escalations == []
    assert rungs() == [] and OutboxMessage.objects.count() == 0


def test_a_pool_case_escalates_to_the_townships_people(report_at, world, cast):
    case = report_at(at(11, 23, 10), category=world.stall)  # overlap: the pool, 4 h
    assert case.state == State.FALLBACK
    sweep(at(11, 23, 13))
    assert mail_to(case, 0) == ["dispatcher@example.org"]
    sweep(at(11, 23, 14))
    assert mail_to(case, 1) == ["supervisor@example.org"]


def test_a_department_without_supervisor_emails_escalates_to_the_township(assigned, world, cast):
    world.urban.supervisor_emails = ""
    world.urban.save()
    sweep(at(11, 23, 12))
    assert mail_to(assigned, 1) == ["supervisor@example.org"]


def test_a_bad_address_fails_alone_and_the_others_are_sent(assigned, world, cast):
    world.urban.supervisor_emails = "not an address; cg-boss@example.org"
    world.urban.save()
    sweep(at(11, 23, 12))
    rows = {m.to: m for m in OutboxMessage.objects.all()}
    assert rows["cg-boss@example.org"].status == OutboxMessage.Status.PENDING
    assert rows["not an address"].status == OutboxMessage.Status.FAILED
    assert "Not an email address" in rows["not an address"].last_error


# 247 characters: an address Django's check passes (it allows 320), longer than the 254 a
# mail server takes once the column's limit is one character shorter than it.
LONG_ADDRESS = "a" * 64 + "@" + ".".join(["b" * 63] * 2) + "." + "c" * 50 + ".org"


def test_an_address_too_long_for_a_dedupe_key_fails_alone_and_the_sweep_goes_on(
    assigned, world, cast
):
    """One such address in a department's list stopped every sweep with "value too long"
    (its deduplication key is its sweep's prefix and the address)."""
    too_long = "d" * 64 + "@" + ".".join(["e" * 63] * 3) + ".org"  # 260 characters
    world.urban.supervisor_emails = f"{LONG_ADDRESS}; {too_long}; cg-boss@example.org"
    world.urban.save()
    sweep(at(11, 23, 12))
    rows = {m.to: m for m in OutboxMessage.objects.all()}
    assert rows["cg-boss@example.org"].status == OutboxMessage.Status.PENDING
    assert rows[LONG_ADDRESS].status == OutboxMessage.Status.PENDING
    assert rows[too_long[:254]].status == OutboxMessage.Status.FAILED
    assert "Longer than 254 characters" in rows[too_long[:254]].last_error
    assert len({m.dedupe_key for m in rows.values()}) == 3


def test_emails_are_in_each_recipients_language(assigned, world, cast):
    boss = make_user("cg_boss", "supervisor", township=world.south, language="en")
    boss.email = "CG-Boss@example.org"  # addresses match whatever their case
    boss.save()
    User.objects.filter(pk=cast.supervisor.pk).update(language="zh-hans")
    sweep(at(11, 23, 13))
    assert OutboxMessage.objects.get(to="cg-boss@example.org").language == "en"
    assert OutboxMessage.objects.get(to="supervisor@example.org").language == "zh-hans"


def test_a_sweep_that_dies_midway_leaves_nothing_and_the_next_one_does_it_all(
    assigned, cast, monkeypatch
):
    def crash(*args, **kwargs):
        raise ConnectionError("worker killed")

    monkeypatch.setattr(escalation_notices, "write_messages", crash)
    with pytest.raises(ConnectionError):
        sweep(at(11, 23, 12))
    assert rungs() == [] and OutboxMessage.objects.count() == 0
    run = SweepRun.objects.get()
    assert run.finished_at is None and "worker killed" in run.error
    monkeypatch.undo()
    assert [e.level for e in sweep(at(11, 23, 12)).escalations] == [1]
    assert OutboxMessage.objects.count() == 1


def test_an_email_that_cannot_be_rendered_does_not_stop_the_sweep(
    report_at, world, cast, monkeypatch
):
    broken = report_at(at(11, 23, 10))
    fine = report_at(at(11, 24, 9))  # due at 11:00 the next day
    real = emails.escalation

    def fussy(*, escalation, **kwargs):
        if escalation.case_id == broken.pk:
            raise KeyError("a template bug")
        return real(escalation=escalation, **kwargs)

    monkeypatch.setattr(emails, "escalation", fussy)
    result = sweep(at(11, 24, 11))
    assert {(e.case_id, e.level) for e in result.escalated} == {
        (broken.pk, 1),
        (broken.pk, 2),
        (broken.pk, 3),
        (fine.pk, 1),
    }
    # The emails are rendered when delivered: the broken one goes out bare, the rest whole.
    assert OutboxMessage.objects.filter(status="pending").count() == 4
    for row in OutboxMessage.objects.all():
        assert deliver(message_pk=row.pk).outcome == "sent"
    bare = OutboxMessage.objects.get(case=broken, escalation__level=1)
    assert bare.status == "sent" and "a template bug" in bare.last_error
    assert bare.subject == f"[{broken.number}] level 1 escalation"
    assert f"/cases/{broken.number}/" in bare.text
    normal = OutboxMessage.objects.get(case=fine)
    assert normal.last_error == "" and "/escalations/ack/" in normal.text


def test_old_sweep_records_are_pruned(db):
    old = SweepRun.objects.create(
        started_at=timezone.now() - timedelta(days=8), clock=timezone.now()
    )
    escalation_sweep()
    assert not SweepRun.objects.filter(pk=old.pk).exists()
    assert SweepRun.objects.count() == 1


def test_a_dry_run_says_what_would_escalate_and_changes_nothing(
    assigned, cast, django_capture_on_commit_callbacks
):
    events_before = CaseEvent.objects.count()
    with django_capture_on_commit_callbacks() as callbacks:
        result = sweep(at(11, 23, 13), dry_run=True)
    assert [e.level for e in result.escalations] == [1, 2]
    assert result.messages == 2
    assert callbacks == []
    assert rungs() == [] and OutboxMessage.objects.count() == 0
    assert CaseEvent.objects.count() == events_before and SweepRun.objects.count() == 0
    assigned.refresh_from_db()
    assert assigned.escalation_level == 0


def test_the_sweep_makes_the_same_number_of_queries_for_few_or_many_cases(
    report_at, cast, django_assert_num_queries
):
    def overdue_cases(count):
        return [report_at(at(11, 23, 10)) for _ in range(count)]

    counts = []
    # 2 cases at levels 1–2; then 7 more at levels 1–3 and the first 2 at level 3.
    for size, moment, escalated in ((2, at(11, 23, 13), 4), (7, at(11, 24, 13), 23)):
        overdue_cases(size)
        # 19: the first asks whether a calendar change waits for the deadlines to follow.
        with django_assert_num_queries(19) as captured:
            result = sweep(moment)
        counts.append(len(captured.captured_queries))
        assert len(result.escalated) == escalated
    assert counts[0] == counts[1]


def test_stuck_outbox_messages_are_requeued_by_the_sweep(db, django_capture_on_commit_callbacks):
    long_ago = timezone.now() - timedelta(hours=1)
    stuck = enqueue_email(
        to="someone@example.org", subject="s", text="t", kind="test", dedupe_key="stuck:1"
    )
    OutboxMessage.objects.filter(pk=stuck.pk).update(next_attempt_at=long_ago)
    fresh = enqueue_email(
        to="other@example.org", subject="s", text="t", kind="test", dedupe_key="fresh:1"
    )
    with django_capture_on_commit_callbacks() as callbacks:
        result = escalation_sweep()
    assert result.requeued == 1 and len(callbacks) == 1
    stuck.refresh_from_db()
    assert stuck.next_attempt_at > long_ago
    # Re-queued once, it is not re-queued again at the next minute's sweep.
    assert escalation_sweep().requeued == 0
    assert fresh.status == OutboxMessage.Status.PENDING


def test_enqueue_email_is_idempotent_by_its_dedupe_key(db):
    first = enqueue_email(
        to="a@example.org", subject="Hello", text="t", kind="invitation", dedupe_key="inv:1"
    )
    second = enqueue_email(
        to="a@example.org", subject="Hello again", text="t", kind="invitation", dedupe_key="inv:1"
    )
    assert first.pk == second.pk and second.subject == "Hello"
    assert first.message_id.startswith("<invitation.") and first.message_id.endswith(">")
    assert OutboxMessage.objects.count() == 1


def test_last_sweep_status_reports_a_healthy_and_a_stuck_sweep(db):
    assert last_sweep_status()["ok"] is False  # never swept
    escalation_sweep()
    assert last_sweep_status()["ok"] is True
    later = timezone.now() + timedelta(minutes=10)
    assert last_sweep_status(now=later)["ok"] is False  # beat stopped: nothing finished since
    SweepRun.objects.create(started_at=timezone.now(), clock=timezone.now())  # never finishes
    status = last_sweep_status(now=timezone.now() + timedelta(minutes=6))
    assert status["running_too_long"] is True and status["ok"] is False


def test_healthz_says_a_sweep_failed_without_publishing_its_error(client, db):
    SweepRun.objects.create(
        started_at=timezone.now(),
        clock=timezone.now(),
        error='OperationalError: could not connect to "db.internal" as user "gov"',
    )
    body = client.get("/healthz").json()
    assert body["sweep"]["last_failed"] is True
    assert "db.internal" not in json.dumps(body)


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_racing_on_two_connections_escalate_once(report, cast, monkeypatch):
    with time_machine.travel(at(11, 23, 10), tick=False):
        cases = [report() for _ in range(3)]
    original = escalation_service._raise_case_levels

    def slow(sweep_id):
        time.sleep(0.5)  # hold the transaction open while the other sweep runs into it
        return original(sweep_id)

    monkeypatch.setattr(escalation_service, "_raise_case_levels", slow)
    barrier = threading.Barrier(2)
    results, errors = [], []

    def run():
        try:
            barrier.wait()
            results.append(escalation_sweep(now=at(11, 23, 14)))
        except Exception as error:  # reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert sorted(len(r.escalations) for r in results) == [0, 9]
    assert Escalation.objects.count() == 9
    assert OutboxMessage.objects.count() == 9
    assert set(Case.objects.values_list("escalation_level", flat=True)) == {3}
    escalated = set(Escalation.objects.values_list("case__number", flat=True))
    assert {c.number for c in cases} == escalated


def test_the_command_drives_the_ladder_with_now(assigned, cast):
    outputs = []
    for moment in ("2026-11-23T12:00:00+08:00", "2026-11-23T13:00", "2026-11-23T14:00:00+08:00"):
        out = StringIO()
        call_command("escalate_overdue", "--now", moment, stdout=out)
        outputs.append(out.getvalue())
    # At the deadline itself: no working time past it to speak of.
    assert f"{assigned.number} accept level 1, overdue, the deadline has just passed" in outputs[0]
    assert "cg-boss@example.org" in outputs[0]
    assert "level 2, overdue by 1 hour" in outputs[1] and "supervisor@example.org" in outputs[1]
    assert "level 3, overdue by 2 hours" in outputs[2] and "district@example.org" in outputs[2]
    assert rungs() == [(assigned.number, 1, level) for level in (1, 2, 3)]


@pytest.mark.parametrize(
    ("language", "owner"),
    [("en", "; owner 城管局; to: "), ("zh-hans", "；责任方 城管局；收件人：")],
)
def test_the_command_names_the_owning_department_as_the_emails_do(
    assigned, settings, language, owner
):
    """It printed the department's code ("责任方 CG") beside "责任方 兜底池"."""
    settings.LANGUAGE_CODE = language  # what a command speaks
    out = StringIO()
    call_command("escalate_overdue", "--now", "2026-11-23T12:30:00+08:00", "--dry-run", stdout=out)
    assert owner in out.getvalue().splitlines()[0]


@pytest.mark.parametrize(
    ("language", "owner"),
    [("en", "; owner fallback pool of {}; to: "), ("zh-hans", "；责任方 {}兜底池；收件人：")],
)
def test_the_command_names_the_township_whose_pool_owns_the_case(
    report_at, world, settings, language, owner
):
    """It printed "owner pool", which in a district of several townships said not whose."""
    case = report_at(at(11, 23, 10), category=world.stall)  # overlap: the pool, 4 h
    settings.LANGUAGE_CODE = language  # what a command speaks
    out = StringIO()
    call_command("escalate_overdue", "--now", "2026-11-23T14:00:00+08:00", "--dry-run", stdout=out)
    assert owner.format(case.township.name) in out.getvalue().splitlines()[0]


@pytest.mark.parametrize(
    ("language", "recipients"),
    [
        ("en", "cg-boss@example.org, cg-deputy@example.org"),
        ("zh-hans", "cg-boss@example.org、cg-deputy@example.org"),
    ],
)
def test_the_command_lists_the_recipients_in_its_language(
    assigned, world, settings, language, recipients
):
    settings.LANGUAGE_CODE = language  # what a command speaks
    world.urban.supervisor_emails = "cg-boss@example.org; cg-deputy@example.org"
    world.urban.save()
    out = StringIO()
    call_command("escalate_overdue", "--now", "2026-11-23T12:30:00+08:00", "--dry-run", stdout=out)
    assert out.getvalue().splitlines()[0].endswith(recipients)


def test_the_command_sends_its_emails_itself_unless_told_to_queue_them(assigned, cast, mailoutbox):
    out = StringIO()
    call_command("escalate_overdue", "--now", "2026-11-23T12:00:00+08:00", stdout=out)

    (email,) = mailoutbox  # no worker runs here: the command sent it
    assert email.to == ["cg-boss@example.org"] and assigned.number in email.subject
    assert (
        "Emails: sent 1, failed 0, left for a worker to retry 0, taken by a worker 0."
        in out.getvalue()
    )
    assert OutboxMessage.objects.get().status == OutboxMessage.Status.SENT

    queued = StringIO()
    call_command("escalate_overdue", "--now", "2026-11-23T13:00:00+08:00", "--queue", stdout=queued)
    assert "level 2" in queued.getvalue() and "Emails:" not in queued.getvalue()
    assert len(mailoutbox) == 1
    assert OutboxMessage.objects.filter(status=OutboxMessage.Status.PENDING).count() == 1


def test_the_delivery_summary_names_outdated_emails_only_when_there_are_some():
    from collections import Counter

    assert delivery_summary(Counter(sent=2, outdated=1, skipped=1)) == (
        "sent 2, failed 0, not sent as their cases moved on 1, "
        "left for a worker to retry 0, taken by a worker 1"
    )
    assert delivery_summary(Counter(sent=2)) == (
        "sent 2, failed 0, left for a worker to retry 0, taken by a worker 0"
    )


def test_an_escalation_email_delivered_after_its_case_moved_on_is_not_sent(
    assigned, cast, mailoutbox
):
    sweep(at(11, 23, 12))
    row = OutboxMessage.objects.get()
    workflow.case_accept(case=assigned, actor=cast.liaison)
    assert deliver(message_pk=row.pk).outcome == "outdated"
    row.refresh_from_db()
    assert (row.status, row.attempts, row.text) == ("outdated", 0, "")  # never rendered
    assert mailoutbox == []


def test_an_escalation_email_of_a_deadline_an_extension_moved_is_not_sent(assigned, cast):
    sweep(at(11, 23, 12))
    row = OutboxMessage.objects.get(escalation__level=1)
    moment = at(11, 23, 12, 5)
    request = extensions.extension_request(
        case=assigned,
        actor=cast.liaison,
        reason="需要协调物业",
        extra_days=Decimal("1"),
        now=moment,
    )
    extensions.extension_decide(
        request=request, approve=True, address="cg-boss@example.org", now=moment
    )
    assigned.refresh_from_db()
    assert assigned.due_at > moment  # no longer overdue: the level-1 email would mislead
    assert deliver(message_pk=row.pk).outcome == "outdated"
    row.refresh_from_db()
    assert (row.status, row.attempts, row.text) == ("outdated", 0, "")  # never rendered


def test_an_escalation_email_of_a_case_suspended_before_delivery_is_not_sent(
    assigned, cast, mailoutbox
):
    """SPEC §4: a suspended case does not escalate, also by an email written before."""
    sweep(at(11, 23, 12))
    row = OutboxMessage.objects.get(escalation__level=1)
    with time_machine.travel(at(11, 23, 12, 5), tick=False):
        workflow.case_suspend(case=assigned, actor=cast.supervisor, reason="挂账 等待规划")
    assert deliver(message_pk=row.pk).outcome == "outdated"
    assert mailoutbox == []


def test_the_command_dry_run_prints_and_changes_nothing(assigned, cast):
    out = StringIO()
    call_command("escalate_overdue", "--now", "2026-11-23T12:00+08:00", "--dry-run", stdout=out)
    assert f"[dry run] {assigned.number} accept level 1" in out.getvalue()
    assert "would escalate 1" in out.getvalue()
    assert rungs() == [] and OutboxMessage.objects.count() == 0


@pytest.mark.parametrize("bad", ["yesterday", "2026-13-01T10:00", "2026-11-23 25:00", ""])
def test_the_command_refuses_a_malformed_now(bad, db):
    with pytest.raises(CommandError, match="not an ISO-8601 date-time"):
        call_command("escalate_overdue", "--now", bad)
    assert SweepRun.objects.count() == 0


@pytest.mark.parametrize("far", ["9999-12-31T23:59:59+08:00", "2300-01-01", "0001-01-01T00:00"])
def test_the_command_refuses_a_now_centuries_away(far, assigned):
    """The year 9999 escalated every open case, then overflowed counting how late they were."""
    with pytest.raises(CommandError, match="more than 100 years from today"):
        call_command("escalate_overdue", "--now", far, stdout=StringIO())
    assert SweepRun.objects.count() == 0 and rungs() == []


KILLED_SWEEP = """
import sys, time
import django
django.setup()
from datetime import datetime
from cases.services import escalation

original = escalation._raise_case_levels

def then_hang(sweep_id):
    original(sweep_id)
    print("inserted", flush=True)
    time.sleep(120)

escalation._raise_case_levels = then_hang
escalation.escalation_sweep(now=datetime.fromisoformat(sys.argv[1]))
"""


@pytest.mark.django_db(transaction=True)
def test_a_sweep_process_killed_midway_loses_nothing_and_sends_nothing_twice(report, cast):
    with time_machine.travel(at(11, 23, 10), tick=False):
        case = report()
    if connection.vendor != "postgresql":
        pytest.skip("the killed process needs a database server it can share")
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "DJANGO_SETTINGS_MODULE": "governance.settings",
    }
    worker = subprocess.Popen(
        [sys.executable, "-c", KILLED_SWEEP, at(11, 23, 14).isoformat()],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert worker.stdout.readline().strip() == "inserted"  # mid-transaction, rows written
        os.kill(worker.pid, signal.SIGKILL)
    finally:
        worker.wait(30)
    assert Escalation.objects.count() == 0 and OutboxMessage.objects.count() == 0
    assert last_sweep_status()["last_finished_at"] is None  # the dead sweep never finished
    result = escalation_sweep(now=at(11, 23, 14))
    assert [e.level for e in result.escalations] == [1, 2, 3]
    assert rungs() == [(case.number, 1, level) for level in (1, 2, 3)]
    assert OutboxMessage.objects.count() == 3


# -- rendering moved out of the sweep (issue 7) ----------------------------------------------


def test_the_sweep_writes_unrendered_rows_and_renders_no_template(assigned, cast, monkeypatch):
    def no_rendering(*args, **kwargs):
        raise AssertionError("the sweep rendered an email")

    monkeypatch.setattr(emails, "render", no_rendering)
    result = sweep(at(11, 23, 13))
    assert result.messages == 2
    for row in OutboxMessage.objects.all():
        assert (row.status, row.subject, row.text, row.html) == ("pending", "", "", "")
        assert row.escalation_id and row.case_id == assigned.pk and row.message_id


def test_the_sweep_queues_one_task_per_batch_not_per_message(
    report_at, cast, settings, monkeypatch, django_capture_on_commit_callbacks
):
    from cases import tasks

    for _ in range(3):
        report_at(at(11, 23, 10))
    sweeps, batches, singles, options = [], [], [], []

    def queue(queued):
        def apply_async(args, **kw):
            queued.append(args[0])
            options.append(kw)

        return apply_async

    def run_sweep_task(args, **kw):
        sweeps.append(args[0])
        tasks.queue_sweep_messages(*args)  # as the worker would

    monkeypatch.setattr(tasks.queue_sweep_messages, "apply_async", run_sweep_task)
    monkeypatch.setattr(tasks.deliver_outbox_messages, "apply_async", queue(batches))
    monkeypatch.setattr(tasks.send_outbox_message, "apply_async", queue(singles))
    settings.OUTBOX_BATCH_SIZE = 5
    with django_capture_on_commit_callbacks(execute=True):
        result = sweep(at(11, 23, 13))  # 3 cases × levels 1–2: six emails
    assert result.messages == 6
    # The sweep itself queues one task; that task queues the batches.
    assert sweeps == [str(result.sweep_id)]
    assert [len(b) for b in batches] == [5] and len(singles) == 1
    pending = set(OutboxMessage.objects.values_list("pk", flat=True))
    assert set(batches[0]) | set(singles) == pending
    # Both tasks go out through one producer; the batch's repr is short, not its ids.
    assert options[0]["producer"] is options[1]["producer"] is not None
    assert options[0]["argsrepr"] == f"[5 outbox ids from {batches[0][0]}]"


def test_the_sweep_task_queues_its_own_pending_messages_a_page_at_a_time(
    report_at, cast, monkeypatch
):
    for _ in range(3):
        report_at(at(11, 23, 10))
    first = sweep(at(11, 23, 13))  # 3 cases × levels 1–2
    second = sweep(at(11, 23, 14))  # level 3: another sweep's messages
    assert (first.messages, second.messages) == (6, 3)
    ours = OutboxMessage.objects.filter(escalation__sweep_id=first.sweep_id).order_by("pk")
    failed = ours.first()
    OutboxMessage.objects.filter(pk=failed.pk).update(status=OutboxMessage.Status.FAILED)
    pages = []
    monkeypatch.setattr(publishing, "SWEEP_PAGE", 2)
    monkeypatch.setattr(publishing, "publish", lambda pks: pages.append(pks) or len(pks))

    assert publish_sweep(first.sweep_id) == 5

    assert [len(page) for page in pages] == [2, 2, 1]
    # In the database's order (see the next test), each pending message once.
    assert sorted(sum(pages, [])) == list(ours.exclude(pk=failed.pk).values_list("pk", flat=True))


def test_a_sweeps_messages_are_read_through_its_escalations_alone(report_at, cast):
    """The planner's statistics know none of the rows a sweep has just written: with the
    status or an order in the query, it chose plans quadratic in a big sweep (over 20
    minutes at 1,000,000 cases in the bench). Only the join to the sweep's escalations is
    left to the database, which finds each one's messages by index."""
    report_at(at(11, 23, 10))
    result = sweep(at(11, 23, 13))
    with CaptureQueriesContext(connection) as captured:
        pks = list(sweep_pending_pks(result.sweep_id))
    assert len(pks) == result.messages
    (select,) = [q["sql"] for q in captured.captured_queries if "SELECT" in q["sql"]]
    where = select.split("WHERE", 1)[1]
    assert "sweep_id" in where and "status" not in where and "ORDER BY" not in select


def test_a_sweep_with_only_bad_addresses_queues_nothing(
    assigned, world, cast, monkeypatch, django_capture_on_commit_callbacks
):
    world.urban.supervisor_emails = "not an address"
    world.urban.save()
    with django_capture_on_commit_callbacks() as callbacks:
        result = sweep(at(11, 23, 12))
    assert result.messages == 1 and callbacks == []
    assert OutboxMessage.objects.get().status == OutboxMessage.Status.FAILED


def test_a_sweep_whose_task_the_broker_refuses_commits_and_its_messages_wait(
    assigned, cast, monkeypatch, django_capture_on_commit_callbacks, caplog
):
    from cases import tasks

    def refuse(*args, **kwargs):
        raise ConnectionRefusedError("nothing listens")

    monkeypatch.setattr(tasks.queue_sweep_messages, "apply_async", refuse)
    with django_capture_on_commit_callbacks(execute=True):
        result = sweep(at(11, 23, 12))
    assert result.messages == 1 and len(rungs()) == 1
    assert OutboxMessage.objects.get().status == OutboxMessage.Status.PENDING
    assert f"Could not queue the messages of sweep {result.sweep_id}" in caplog.text


@pytest.fixture
def unqueued(monkeypatch):
    """The messages `publish` logs as not queued, one list per log line."""
    logged = []
    monkeypatch.setattr(publishing, "_log_not_queued", logged.append)
    return logged


def test_a_batch_the_broker_refuses_is_logged_and_the_others_are_queued(
    settings, monkeypatch, unqueued
):
    from cases import tasks

    queued = []

    def apply_async(args, **kw):
        if 3 in args[0]:
            raise ConnectionError("the broker dropped the connection")
        queued.append(args[0])

    monkeypatch.setattr(tasks.deliver_outbox_messages, "apply_async", apply_async)
    # Any producer: the tasks' apply_async above never reaches the broker.
    monkeypatch.setattr(
        tasks.deliver_outbox_messages.app,
        "producer_or_acquire",
        lambda: contextlib.nullcontext(object()),
    )
    settings.OUTBOX_BATCH_SIZE = 2

    assert publish([1, 2, 3, 4, 5, 6]) == 4

    assert queued == [[1, 2], [5, 6]]
    assert unqueued == [[3, 4]]


def test_with_no_producer_to_be_had_every_message_is_logged_and_none_queued(monkeypatch, unqueued):
    from cases import tasks

    def no_producer():
        raise ConnectionRefusedError("nothing listens")

    monkeypatch.setattr(tasks.deliver_outbox_messages.app, "producer_or_acquire", no_producer)

    assert publish([7, 8, 9]) == 0
    assert unqueued == [[7, 8, 9]]


def test_a_redelivered_batch_task_sends_each_email_once(report_at, cast, mailoutbox):
    from cases import tasks

    for _ in range(2):
        report_at(at(11, 23, 10))
    sweep(at(11, 23, 14))  # 2 cases × levels 1–3
    pks = list(OutboxMessage.objects.values_list("pk", flat=True))
    assert tasks.deliver_outbox_messages(pks) == {"sent": 6}
    assert tasks.deliver_outbox_messages(pks) == {"skipped": 6}  # the broker redelivers it
    assert len(mailoutbox) == 6
    ids = sorted(m.extra_headers["Message-ID"] for m in mailoutbox)
    assert ids == sorted(OutboxMessage.objects.values_list("message_id", flat=True))
    assert set(OutboxMessage.objects.values_list("status", "attempts")) == {("sent", 1)}


def test_a_batch_hands_a_failed_email_to_its_own_retry_with_backoff(assigned, cast, monkeypatch):
    from cases import tasks

    sweep(at(11, 23, 13))
    retries = []
    monkeypatch.setattr(
        tasks.send_outbox_message,
        "apply_async",
        lambda args, countdown=None, **kw: retries.append((args[0], countdown)),
    )
    real_send = sending._send

    def flaky(message):
        if message.to == "cg-boss@example.org":
            # An answer about this one message: a server that does not answer at all
            # stops the batch (test_escalation_celery.py).
            raise smtplib.SMTPRecipientsRefused({message.to: (450, b"4.2.1 mailbox busy")})
        real_send(message)

    monkeypatch.setattr(sending, "_send", flaky)
    pks = list(OutboxMessage.objects.order_by("pk").values_list("pk", flat=True))
    assert tasks.deliver_outbox_messages(pks) == {"retry": 1, "sent": 1}
    failed = OutboxMessage.objects.get(to="cg-boss@example.org")
    assert retries == [(failed.pk, retry_delay(1))]
    assert failed.status == "pending" and failed.attempts == 1
    assert failed.text  # rendered once, kept for the next attempt


def test_a_sweep_never_requeues_the_messages_it_has_just_written(assigned, cast, settings):
    settings.OUTBOX_REQUEUE_AFTER_SECONDS = 0  # anything pending before the sweep is "stuck"
    result = sweep(at(11, 23, 13))
    assert result.messages == 2 and result.requeued == 0
    # The next sweep finds them pending since before it started: those it re-queues.
    assert sweep(at(11, 23, 13)).requeued == 2


def test_the_sweeps_log_line_names_the_sweep_as_its_record_does_through_the_phone_mask(
    assigned, caplog, monkeypatch
):
    """An operator matches a log line to the sweep's record: the phone mask of LOGGING
    must leave the id whole (a short "a6758061" came out as "a***8061")."""
    from cases.privacy import MaskPhoneNumbers

    digits = uuid.UUID("a6758061-0000-4000-8000-000000000001")
    monkeypatch.setattr(escalation_service.uuid, "uuid4", lambda: digits)
    with caplog.at_level("INFO", logger="cases.services.escalation"):
        sweep(at(11, 23, 12))
    (record,) = [r for r in caplog.records if r.getMessage().startswith("Sweep ")]
    MaskPhoneNumbers().filter(record)
    run = SweepRun.objects.get()
    assert run.sweep_id == digits
    assert f"Sweep {run.sweep_id}:" in record.getMessage()
    assert "*" not in record.getMessage()


@pytest.fixture
def hung_mail_server(settings):
    yield from hung_smtp_server(settings, timeout=1)


def escalate_by_hand(world, *emails: str) -> str:
    """escalate_overdue's output, its one escalation mailed to `emails` (the department's
    one supervisor without), checking that a silent server held it up once, not per email."""
    if emails:
        world.urban.supervisor_emails = "; ".join(emails)
        world.urban.save()
    out = StringIO()
    started = time.monotonic()
    call_command("escalate_overdue", "--now", "2026-11-23T12:00:00+08:00", stdout=out)
    assert time.monotonic() - started < 2.5  # one timeout of 1 s, not one per email
    return out.getvalue()


THREE = ("a@example.org", "b@example.org", "c@example.org")


def test_the_command_stops_sending_at_a_mail_server_that_does_not_answer(
    assigned, world, hung_mail_server
):
    output = escalate_by_hand(world, *THREE)

    assert "escalated 1, reminders 0, emails 3" in output
    assert (
        "Emails: sent 0, failed 0, left for a worker to retry 1, taken by a worker 0,"
        " not tried as the mail server stopped answering 2." in output
    )
    assert "The mail server could not be reached (SMTPServerDisconnected: " in output
    # The one that met the silence is left unsent too: three, not "2 more".
    assert "so sending stopped: 3 emails are left in the outbox" in output
    assert set(OutboxMessage.objects.values_list("status", flat=True)) == {"pending"}


def test_a_silence_on_a_messages_last_attempt_stops_the_command_too(
    assigned, world, hung_mail_server, settings
):
    """The first email's attempt is its last: it fails for good, and the silence stops
    the run all the same, rather than each next email waiting as long for it."""
    settings.OUTBOX_MAX_ATTEMPTS = 1

    output = escalate_by_hand(world, *THREE)

    assert "Emails: sent 0, failed 1, left for a worker to retry 0," in output
    assert "not tried as the mail server stopped answering 2." in output
    assert "so sending stopped: 2 emails are left in the outbox" in output
    statuses = sorted(OutboxMessage.objects.values_list("status", flat=True))
    assert statuses == ["failed", "pending", "pending"]


def test_a_silence_on_the_last_attempt_of_the_runs_only_email_is_named_as_such(
    assigned, world, hung_mail_server, settings
):
    settings.OUTBOX_MAX_ATTEMPTS = 1

    output = escalate_by_hand(world)

    assert "Emails: sent 0, failed 1, left for a worker to retry 0," in output
    assert "The mail server could not be reached (SMTPServerDisconnected: " in output
    assert "sending stopped" not in output  # there was nothing more to send
    assert "not tried" not in output


def test_a_silence_on_the_runs_last_email_leaves_that_one_in_the_outbox(
    assigned, world, hung_mail_server
):
    output = escalate_by_hand(world)

    assert "escalated 1, reminders 0, emails 1" in output
    assert "so sending stopped: 1 email is left in the outbox" in output
    assert OutboxMessage.objects.get().status == "pending"


def test_the_workers_delivery_logs_when_it_retries(assigned, hung_mail_server, caplog):
    sweep(at(11, 23, 12))
    row = OutboxMessage.objects.get()
    with caplog.at_level("WARNING", logger="cases.services.outbox"):
        delivery = deliver(message_pk=row.pk)
    assert (delivery.outcome, delivery.retry_in) == ("retry", 30)
    assert delivery.unreachable.startswith("SMTPServerDisconnected")
    assert "not sent (attempt 1), retrying in 30 s: SMTPServerDisconnected" in caplog.text


def test_the_command_says_how_far_its_sending_has_got_as_import_users_does(
    assigned, world, mailoutbox, monkeypatch
):
    """Both commands that send in the foreground print one progress line, on stderr."""
    monkeypatch.setattr(foreground, "PROGRESS_EVERY", 2)
    world.urban.supervisor_emails = "a@example.org; b@example.org; c@example.org; d@example.org"
    world.urban.save()
    out, err = StringIO(), StringIO()

    call_command("escalate_overdue", "--now", "2026-11-23T12:00:00+08:00", stdout=out, stderr=err)

    assert "emails 4" in out.getvalue()
    assert err.getvalue().splitlines() == ["… 2 emails sent", "… 4 emails sent"]
    assert len(mailoutbox) == 4


@pytest.mark.django_db
def test_the_progress_line_counts_only_the_emails_the_command_sent(mailoutbox, monkeypatch):
    """A command run while the workers deliver the same sweep's emails: those a worker took
    are not counted as sent by the command (it printed "… 1000 emails sent" and then "sent
    247, … taken by a worker 1022")."""
    monkeypatch.setattr(foreground, "PROGRESS_EVERY", 2)
    pks = [
        enqueue_email(
            to=f"{n}@example.org", subject="s", text="t", kind="test", dedupe_key=f"p:{n}"
        ).pk
        for n in range(4)
    ]
    OutboxMessage.objects.filter(pk__in=pks[::2]).update(status="sent")  # a worker's
    counts = []

    run = foreground.deliver_now(pks, progress=counts.append)

    assert counts == [1, 2]
    assert (run.outcomes["sent"], run.outcomes["skipped"]) == (2, 2)
    assert len(mailoutbox) == 2
