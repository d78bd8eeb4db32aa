"""Fault tests with real processes (issue 8.3): Celery workers and beats, a private Redis,
an SMTP server, the pytest PostgreSQL database. Each test states the fault, the action,
and what must hold after: every due escalation recorded once, every email delivered (a
duplicate only ever with the same Message-ID), no case half-changed.

The shared PostgreSQL serves the other test runs, so here a lost server is played by
terminating the sweep's own server process (pg_terminate_backend); a real restart of a
private server in the middle of a sweep is in test_postgres_restart.py."""

import os
import signal
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, connections, transaction
from django.test import Client

from cases.models import Escalation, OutboxMessage, SweepRun
from cases.selectors.health import last_sweep_status
from cases.services.escalation import escalation_sweep
from cases.services.outbox.enqueue import enqueue_email
from cases.tasks import escalate_overdue
from tests.faults.conftest import (
    DUE_RUNGS,
    all_sent,
    assert_all_due_escalated_once,
    assert_every_email_delivered,
    assert_nothing_half_done,
    wait_for,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.xdist_group("faults")]


def settle(processes, *, timeout=90):
    processes.wait_for(all_sent, timeout=timeout, what="every email to be sent")


def test_two_beats_and_duplicated_sweeps_escalate_and_mail_once(
    overdue_cases, broker, smtp, celery_processes
):
    """Fault: two beat schedulers run at once (a second deployment started by mistake)
    and the sweep task is also queued ten times by hand. Action: two workers of two pool
    processes each take them all. Holds: each rung once, each email once."""
    celery_processes.worker("w1", concurrency=2)
    celery_processes.worker("w2", concurrency=2)
    for _ in range(10):
        escalate_overdue.delay()
    celery_processes.beat("beat1")
    celery_processes.beat("beat2")
    celery_processes.wait_for(
        lambda: SweepRun.objects.filter(finished_at__isnull=False).count() >= 14,
        timeout=60,
        what="ten queued sweeps and a few from each beat",
    )
    settle(celery_processes)
    assert_all_due_escalated_once(overdue_cases)
    assert_nothing_half_done()
    assert_every_email_delivered(smtp, duplicates_allowed=False)


def test_a_worker_killed_while_sending_an_email_does_not_lose_it(
    overdue_cases, broker, smtp, celery_processes
):
    """Fault: the pool process delivering an email is SIGKILLed after the SMTP server has
    the message but before it is marked sent. Action: the worker replaces its pool
    process and the task is redelivered. Holds: every email delivered; the one that may
    arrive twice carries the same Message-ID both times; every row ends `sent`."""
    smtp.mailbox.hold = True
    worker = celery_processes.worker("w1")
    escalation_sweep()
    assert smtp.mailbox.arrived.wait(30), celery_processes.logs()
    (child,) = celery_processes.children(worker)
    os.kill(child, signal.SIGKILL)
    smtp.mailbox.hold = False
    smtp.mailbox.released.set()
    settle(celery_processes)
    assert_all_due_escalated_once(overdue_cases)
    assert_nothing_half_done()
    assert_every_email_delivered(smtp, duplicates_allowed=True)
    assert max(smtp.mailbox.message_ids().values()) == 2, "the killed delivery was retried"


@pytest.fixture
def outbox_locked():
    """Holds the outbox table locked from another connection: a sweep that reaches its
    email step waits there, half-way through its transaction."""
    holder = connections.create_connection("default")
    holder.set_autocommit(False)
    with holder.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {OutboxMessage._meta.db_table} IN EXCLUSIVE MODE")

    def release():
        holder.rollback()
        holder.close()

    yield release
    if holder.connection is not None:
        release()


def sweep_waiting_on_a_lock() -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND query ILIKE %s",
            ["%INSERT INTO%cases_outboxmessage%"],
        )
        return [pid for (pid,) in cursor.fetchall()]


def test_a_worker_killed_in_the_middle_of_a_sweep_leaves_nothing_half_done(
    overdue_cases, broker, smtp, celery_processes, outbox_locked
):
    """Fault: the pool process running a sweep is SIGKILLed after it inserted the
    escalations and before it wrote their emails. Action: the lock is released and the
    redelivered sweep runs. Holds: the killed sweep's rows are all gone (one transaction),
    the rerun escalates each rung once and every email goes out once."""
    worker = celery_processes.worker("w1")
    escalate_overdue.delay()
    celery_processes.wait_for(
        sweep_waiting_on_a_lock, timeout=30, what="the sweep to reach its emails"
    )
    (child,) = celery_processes.children(worker)
    os.kill(child, signal.SIGKILL)
    # The worker replaces its pool process and the sweep task comes back (acks_late).
    celery_processes.wait_for(
        lambda: celery_processes.children(worker) not in ([], [child]),
        timeout=60,
        what="a new pool process",
    )
    outbox_locked()
    settle(celery_processes)
    assert_all_due_escalated_once(overdue_cases)
    assert_nothing_half_done()
    assert_every_email_delivered(smtp, duplicates_allowed=False)
    # The killed sweep is visible as one that never finished.
    assert SweepRun.objects.filter(finished_at__isnull=True).count() == 1


def test_a_lost_database_connection_during_a_sweep_is_made_good_by_the_next(
    overdue_cases, broker, smtp, celery_processes, outbox_locked
):
    """Fault: PostgreSQL drops the sweep's connection half-way (pg_terminate_backend, as
    a server restart does). Action: the next sweep runs. Holds: the failed sweep changed
    nothing and recorded its error; the next one escalates each rung once and mails once."""
    celery_processes.worker("w1")
    escalate_overdue.delay()
    (pid,) = celery_processes.wait_for(
        sweep_waiting_on_a_lock, timeout=30, what="the sweep to reach emails"
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    outbox_locked()
    celery_processes.wait_for(
        lambda: SweepRun.objects.exclude(error="").exists(), timeout=20, what="the error"
    )
    assert Escalation.objects.count() == 0
    escalate_overdue.delay()
    settle(celery_processes)
    assert_all_due_escalated_once(overdue_cases)
    assert_nothing_half_done()
    assert_every_email_delivered(smtp, duplicates_allowed=False)


def test_a_redis_restart_that_loses_the_queue_loses_no_email(
    overdue_cases, broker, smtp, celery_processes, settings
):
    """Fault: Redis restarts (no persistence) while the delivery tasks wait in its queue.
    Action: a worker starts, then the next sweep re-queues what is still pending.
    Holds: every email delivered exactly once."""
    result = escalation_sweep()
    # The delivery tasks (one per message or per batch) wait in Redis.
    assert result.messages and broker.queued()
    broker.restart()
    assert broker.queued() == []
    celery_processes.worker("w1")
    time.sleep(1)
    assert not OutboxMessage.objects.filter(status=OutboxMessage.Status.SENT).exists()
    settings.OUTBOX_REQUEUE_AFTER_SECONDS = 0  # "pending too long" is now
    again = escalation_sweep()
    assert again.escalations == [] and again.requeued == result.messages
    settle(celery_processes)
    assert_all_due_escalated_once(overdue_cases)
    assert_nothing_half_done()
    assert_every_email_delivered(smtp, duplicates_allowed=False)


def test_broker_messages_carry_ids_only_never_personal_data(overdue_cases, broker):
    """What the broker holds (and would lose or leak) are message ids, not names or
    phone numbers: the queued task bodies name only outbox rows."""
    for case in overdue_cases:
        case.reporter_name, case.reporter_phone = "王小明", "13812345678"
        case.save(update_fields=["reporter_name", "reporter_phone"])
    escalation_sweep()
    queued = broker.queued()
    assert queued
    for raw in queued:
        assert b"13812345678" not in raw and "王小明".encode() not in raw
        assert b"138****5678" not in raw  # not even masked: the row has it


def test_the_mail_server_answering_451_is_retried_until_it_accepts(
    overdue_cases, broker, smtp, celery_processes
):
    """Fault: the SMTP server answers 451 (try again later) to the first five messages.
    Action: the worker retries with backoff. Holds: every email delivered once."""
    smtp.mailbox.tempfail = 5
    celery_processes.worker("w1", concurrency=2)
    escalation_sweep()
    settle(celery_processes)
    assert_every_email_delivered(smtp, duplicates_allowed=False)
    assert OutboxMessage.objects.filter(attempts__gt=1).exists()
    assert_nothing_half_done()


def test_the_mail_server_answering_550_marks_the_email_failed_without_retrying(
    overdue_cases, broker, smtp, celery_processes
):
    """Fault: the SMTP server refuses every recipient for good (550). Action: the worker
    delivers. Holds: each row ends `failed` after one attempt, with the server's answer;
    the escalations stay recorded once."""
    smtp.mailbox.reject = True
    celery_processes.worker("w1", concurrency=2)
    escalation_sweep()
    celery_processes.wait_for(
        lambda: not OutboxMessage.objects.filter(status=OutboxMessage.Status.PENDING).exists(),
        timeout=30,
        what="every delivery to be refused",
    )
    for message in OutboxMessage.objects.all():
        assert (message.status, message.attempts) == (OutboxMessage.Status.FAILED, 1)
        assert "550" in message.last_error
    assert smtp.mailbox.received == []
    assert Escalation.objects.count() == DUE_RUNGS
    assert_nothing_half_done()


def test_a_worker_masks_phone_numbers_in_what_it_logs(
    overdue_cases, broker, smtp, celery_processes
):
    """Fault: the SMTP server refuses an address that is a mobile number (139.com mail).
    Action: the worker delivers and logs the refusal. Holds: its log masks the number, as
    the web processes' log does."""
    smtp.mailbox.reject = True
    with transaction.atomic():
        message = enqueue_email(
            to="13812345678@139.com", subject="s", text="t", kind="test", dedupe_key="phone:1"
        )
    celery_processes.worker("w1")
    celery_processes.wait_for(
        lambda: OutboxMessage.objects.get(pk=message.pk).status == OutboxMessage.Status.FAILED,
        timeout=30,
        what="the refusal",
    )
    log = celery_processes.logs()
    assert "138****5678@139.com" in log
    assert "13812345678" not in log


def test_a_slow_mail_server_is_timed_out_and_retried(overdue_cases, broker, smtp, celery_processes):
    """Fault: the SMTP server takes longer than EMAIL_TIMEOUT (2 s) to answer. Action:
    the worker gives up on that attempt and retries; the server speeds up. Holds: every
    email delivered, a duplicate only with the same Message-ID."""
    smtp.mailbox.delay = 4
    celery_processes.worker("w1", concurrency=2)
    escalation_sweep()
    celery_processes.wait_for(
        lambda: OutboxMessage.objects.filter(attempts__gte=1).exclude(last_error="").exists(),
        timeout=30,
        what="an attempt to time out",
    )
    smtp.mailbox.delay = 0
    settle(celery_processes)
    assert "timed out" in " ".join(OutboxMessage.objects.values_list("last_error", flat=True))
    assert_every_email_delivered(smtp, duplicates_allowed=True)


def test_a_mail_server_that_is_down_gets_the_emails_when_it_returns(
    overdue_cases, broker, smtp, celery_processes
):
    """Fault: nothing listens on the SMTP port. Action: deliveries fail and back off;
    then the server starts. Holds: every email delivered once."""
    smtp.stop()
    celery_processes.worker("w1", concurrency=2)
    escalation_sweep()
    celery_processes.wait_for(
        lambda: OutboxMessage.objects.filter(attempts__gte=2).exists(),
        timeout=30,
        what="deliveries to fail and retry",
    )
    assert not OutboxMessage.objects.filter(status=OutboxMessage.Status.SENT).exists()
    smtp.start()
    settle(celery_processes)
    assert_every_email_delivered(smtp, duplicates_allowed=False)


def test_healthz_reports_a_sweep_that_has_not_finished_for_too_long(overdue_cases, outbox_locked):
    """Fault: a sweep hangs (here: on a lock). Action: /healthz is asked while it hangs,
    after the staleness limit. Holds: health says the sweep is stuck, and not ok."""
    thread = threading.Thread(target=lambda: (escalation_sweep(), connection.close()))
    thread.start()
    try:
        wait_for(sweep_waiting_on_a_lock, timeout=20, what="the sweep to hang")
        run = SweepRun.objects.get()
        SweepRun.objects.filter(pk=run.pk).update(started_at=run.started_at - timedelta(hours=1))
        status = last_sweep_status()
        assert status["running_too_long"] and not status["ok"]
        body = Client().get("/healthz").json()
        assert body["sweep"]["running_too_long"] is True
        assert body["sweep"]["ok"] is False
        assert body["status"] == "degraded"
    finally:
        outbox_locked()
        thread.join(timeout=30)
