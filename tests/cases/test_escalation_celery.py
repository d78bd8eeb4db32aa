"""Escalation end to end with the real parts (SPEC §4): PostgreSQL, a Redis broker, a
Celery worker started by the test, and an SMTP server on loopback (aiosmtpd).

Every test here uses its own queues on Redis (its copies of `celery` and `mail`), so two
xdist workers (or two engineers) never take each other's tasks; they also run in one xdist
group."""

import json
import os
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import redis
import time_machine
from celery import signals
from celery.contrib.testing.worker import start_worker
from django.core.management import call_command
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from cases import tasks
from cases.models import OutboxMessage, SweepRun
from cases.services import workflow
from cases.services.escalation import escalation_sweep
from cases.services.outbox.enqueue import build_message, enqueue_email
from cases.services.outbox.publishing import publish
from cases.services.outbox.sending import deliver
from governance.celery import app as celery_app
from tests.brokers import HungBroker, celery_broker, forget_broker_connections, private_queues
from tests.calendar_years import UNKNOWN_YEAR
from tests.processes import ROOT, environ, production
from tests.smtp import Inbox, hung_smtp_server, running_smtp_server

SHANGHAI = ZoneInfo("Asia/Shanghai")
pytestmark = [pytest.mark.xdist_group("celery"), pytest.mark.django_db(transaction=True)]


def at(month, day, hour, minute=0):
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


def wait_for(condition, timeout=20.0, what="the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"Timed out after {timeout} s waiting for {what}.")


# -- a real SMTP server on loopback ---------------------------------------------------------


@pytest.fixture
def smtp(settings):
    yield from running_smtp_server(settings)


# -- a real Celery worker on a real Redis broker ------------------------------------------------


def _redis_url() -> str:
    base = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379").rstrip("/")
    # One Redis database per xdist worker (gw0 → 1, gw1 → 2…), and queues of each test's own.
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
    return f"{base}/{1 + index}"


def _reset_broker_state():
    # Celery caches its connection pools, queues and router; drop them so the new broker,
    # queues and routes take effect (and are dropped again afterwards).
    forget_broker_connections()
    celery_app.__dict__.pop("amqp", None)


def _close_db_connection(**kwargs):
    connection.close()


@pytest.fixture
def queues():
    """This test's own copies of the app's queues on Redis, routed as in production, by the
    app's names: {"celery": "celery-<id>", "mail": "mail-<id>"}. Deleted afterwards."""
    suffix = uuid.uuid4().hex[:12]
    private = private_queues(suffix)
    saved = {key: celery_app.conf[key] for key in ("broker_url", "broker_transport_options")}
    saved.update({key: celery_app.conf[key] for key in private})
    celery_app.conf.update(
        broker_url=_redis_url(), broker_transport_options={"visibility_timeout": 3600}, **private
    )
    _reset_broker_state()
    names = {q.name.removesuffix(f"-{suffix}"): q.name for q in private["task_queues"]}
    try:
        yield names
    finally:
        # Leave nothing behind on the shared Redis: the queues and kombu's bindings for them.
        with redis.Redis.from_url(_redis_url()) as client:
            for name in names.values():
                client.delete(name, f"_kombu.binding.{name}", f"_kombu.binding_permanent.{name}")
        celery_app.conf.update(saved)
        _reset_broker_state()


@contextmanager
def running_worker():
    """A worker thread started as `celery worker` without -Q: it consumes every queue the
    app declares (here, the test's own)."""
    # The worker thread has its own database connection: close it after each task so the
    # test database can be flushed and dropped.
    signals.task_postrun.connect(_close_db_connection, weak=False)
    try:
        with start_worker(
            celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=30
        ) as running:
            yield running
    finally:
        signals.task_postrun.disconnect(_close_db_connection)
        close_old_connections()


@pytest.fixture
def worker(settings, smtp, queues):
    settings.OUTBOX_RETRY_BASE_SECONDS = 1
    settings.OUTBOX_RETRY_MAX_SECONDS = 2
    with running_worker() as running:
        yield running


@pytest.fixture
def overdue(report):
    """A rubbish case led by CG, reported Monday 23 Nov 2026 10:00: level 1 at 12:00."""
    with time_machine.travel(at(11, 23, 10), tick=False):
        return report()


def in_seconds(seconds):
    """The moment a retry due in `seconds` comes."""
    return timezone.now() + timedelta(seconds=seconds)


def addresses_of(inbox):
    return sorted(address for rcpts, _m in inbox.received for address in rcpts)


# -- the tests ----------------------------------------------------------------------------------


def test_an_overdue_case_produces_exactly_one_email_per_level(overdue, cast, worker, smtp):
    for moment in (at(11, 23, 11, 30), at(11, 23, 12), at(11, 23, 13), at(11, 23, 14)):
        escalation_sweep(now=moment)
        escalation_sweep(now=moment)  # the next minute's sweep finds nothing new
    wait_for(lambda: len(smtp.inbox.received) >= 4, what="four emails")
    # And the beat's own task, through the worker, at the real clock: nothing new either.
    tasks.escalate_overdue.delay()
    wait_for(
        lambda: OutboxMessage.objects.filter(status="sent").count() == 4, what="four sent rows"
    )
    time.sleep(1.5)
    assert addresses_of(smtp.inbox) == [
        "cg-boss@example.org",
        "district@example.org",
        "liaison@example.org",
        "supervisor@example.org",
    ]
    (level_1,) = smtp.inbox.to("cg-boss@example.org")
    assert overdue.number in level_1["Subject"]
    assert level_1["Message-ID"] == OutboxMessage.objects.get(to="cg-boss@example.org").message_id


def test_a_task_delivered_twice_sends_one_email(worker, smtp):
    with transaction.atomic():
        message = enqueue_email(
            to="someone@example.org",
            subject="Once",
            text="Only once.",
            kind="test",
            dedupe_key="twice:1",
        )
    # The broker redelivers: two more copies of the same task.
    tasks.send_outbox_message.delay(message.pk)
    tasks.send_outbox_message.delay(message.pk)
    wait_for(lambda: smtp.inbox.received, what="the email")
    time.sleep(2)
    assert len(smtp.inbox.received) == 1
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("sent", 1)


def test_with_the_mail_server_down_the_email_is_retried_and_arrives_once_it_is_back(
    overdue, cast, worker, smtp
):
    smtp.stop()
    escalation_sweep(now=at(11, 23, 12))
    row = OutboxMessage.objects.get()
    wait_for(lambda: OutboxMessage.objects.get(pk=row.pk).attempts >= 2, what="two failed attempts")
    row.refresh_from_db()
    assert row.status == "pending"
    assert "Connection" in row.last_error or "refused" in row.last_error.lower()
    smtp.start()
    wait_for(lambda: smtp.inbox.received, what="the email once the server is back")
    time.sleep(2)
    assert addresses_of(smtp.inbox) == ["cg-boss@example.org"]
    row.refresh_from_db()
    assert row.status == "sent" and row.attempts >= 3


def test_an_address_the_server_rejects_fails_alone_and_the_rest_is_sent(
    overdue, world, cast, worker, smtp
):
    world.urban.supervisor_emails = "gone@example.org;cg-boss@example.org"
    world.urban.save()
    smtp.inbox.reject.add("gone@example.org")
    escalation_sweep(now=at(11, 23, 12))
    wait_for(
        lambda: not OutboxMessage.objects.filter(status="pending").exists(),
        what="both messages settled",
    )
    gone = OutboxMessage.objects.get(to="gone@example.org")
    assert gone.status == "failed" and "550" in gone.last_error and gone.attempts == 1
    assert OutboxMessage.objects.get(to="cg-boss@example.org").status == "sent"
    assert addresses_of(smtp.inbox) == ["cg-boss@example.org"]


def test_a_message_whose_task_was_lost_is_requeued_by_the_sweep_and_sent(worker, smtp):
    # As if the broker had lost the task (or the worker died holding it): a pending row,
    # long past its moment, that no task will ever deliver.
    message = build_message(
        to="late@example.org", subject="Late", text="Late.", kind="test", dedupe_key="lost:1"
    )
    message.next_attempt_at = timezone.now() - timedelta(hours=1)
    message.save()
    tasks.escalate_overdue.delay()  # the beat's sweep re-queues it
    wait_for(lambda: smtp.inbox.received, what="the re-queued email")
    assert addresses_of(smtp.inbox) == ["late@example.org"]


def waiting(queue: str) -> list[str]:
    """The names of the tasks waiting in one of the test's queues on Redis."""
    with redis.Redis.from_url(_redis_url()) as client:
        return sorted(json.loads(raw)["headers"]["task"] for raw in client.lrange(queue, 0, -1))


def test_email_tasks_wait_in_the_mail_queue_and_the_sweep_in_the_default_one(queues, overdue, cast):
    lost = build_message(
        to="late@example.org", subject="Late", text="Late.", kind="test", dedupe_key="lost:1"
    )
    lost.next_attempt_at = at(11, 23, 11)
    lost.save()
    # The sweep re-queues the lost message, and queues the task that queues its own.
    result = escalation_sweep(now=at(11, 23, 12))
    assert (result.requeued, result.messages) == (1, 1)
    publish(OutboxMessage.objects.values_list("pk", flat=True))  # a batch of two
    tasks.escalate_overdue.delay()
    tasks.purge_held_photos.delay()
    assert {name: waiting(queue) for name, queue in queues.items()} == {
        "celery": ["cases.escalate_overdue", "cases.purge_held_photos"],
        "mail": [
            "cases.deliver_outbox_messages",
            "cases.queue_sweep_messages",
            "cases.send_outbox_message",
        ],
    }


BACKLOG = 30


def test_a_sweep_queued_behind_a_backlog_of_emails_runs_before_the_backlog_is_sent(
    queues, smtp, settings
):
    # The backlog a big sweep or a mail server back from an outage leaves: a task per
    # email, all waiting before the worker (a single process) starts.
    backlog = OutboxMessage.objects.bulk_create(
        build_message(
            to=f"r{n}@example.org", subject="s", text="t", kind="test", dedupe_key=f"backlog:{n}"
        )
        for n in range(BACKLOG)
    )
    for message in backlog:
        tasks.send_outbox_message.delay(message.pk)
    # Then the sweep, as the beat queues it: dropped if it waits past its expiry.
    tasks.escalate_overdue.apply_async(
        **settings.CELERY_BEAT_SCHEDULE["escalate-overdue"]["options"]
    )
    started = []  # (task, emails still pending) as each task starts

    def record(task, **kwargs):
        started.append((task.name, OutboxMessage.objects.filter(status="pending").count()))

    signals.task_prerun.connect(record, weak=False)
    try:
        with running_worker():
            wait_for(
                lambda: SweepRun.objects.filter(finished_at__isnull=False).exists(),
                what="the sweep",
            )
            wait_for(
                lambda: not OutboxMessage.objects.filter(status="pending").exists(),
                what="the backlog to be sent",
            )
    finally:
        signals.task_prerun.disconnect(record)
    names = [name for name, _pending in started]
    turn = names.index(tasks.escalate_overdue.name)
    # The worker takes from its queues in turn: the sweep came after one email at most,
    # with the backlog still pending, instead of after all of it.
    assert turn <= 1 and started[turn][1] >= BACKLOG - 1
    assert names.count(tasks.send_outbox_message.name) == BACKLOG
    assert len(smtp.inbox.received) == BACKLOG


def test_the_dry_run_command_sends_nothing(overdue, cast, worker, smtp):
    out = StringIO()
    call_command("escalate_overdue", "--now", "2026-11-23T14:00:00+08:00", "--dry-run", stdout=out)
    assert "would escalate 3" in out.getvalue()
    time.sleep(2)
    assert smtp.inbox.received == []
    assert OutboxMessage.objects.count() == 0


def test_the_command_with_now_drives_the_ladder_through_levels_1_2_3(
    overdue, cast, worker, smtp, settings
):
    settings.LANGUAGE_CODE = "en"
    for person in (cast.supervisor, cast.district_supervisor):
        person.language = "en"
        person.save()
    expected = {}
    for level, (moment, address) in enumerate(
        [
            ("2026-11-23T12:00:00+08:00", "cg-boss@example.org"),
            ("2026-11-23T13:00:00+08:00", "supervisor@example.org"),
            ("2026-11-23T14:00:00+08:00", "district@example.org"),
        ],
        start=1,
    ):
        out = StringIO()
        call_command("escalate_overdue", "--now", moment, stdout=out)
        assert f"level {level}" in out.getvalue()
        expected[address] = level
        wait_for(lambda a=address: smtp.inbox.to(a), what=f"the level {level} email")
    time.sleep(1)
    assert sorted(expected) == addresses_of(smtp.inbox)
    for address, level in expected.items():
        (message,) = smtp.inbox.to(address)
        assert f"Level {level}" in message["Subject"]


def test_the_beat_schedule_runs_the_sweep_task_every_minute(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["escalate-overdue"]
    assert entry["task"] == tasks.escalate_overdue.name
    assert entry["schedule"] == 60.0
    assert tasks.escalate_overdue.name in celery_app.tasks


class TemporarilyRefusing(Inbox):
    """A server that answers 451 (try again later) to its first `refusals` recipients."""

    def __init__(self, refusals):
        super().__init__()
        self.refusals = refusals

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.refusals:
            self.refusals -= 1
            return "451 4.3.0 Try again later"
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)


def test_a_temporary_refusal_is_retried_and_a_permanent_one_is_not(smtp):
    smtp.stop()
    smtp.inbox = TemporarilyRefusing(refusals=1)
    smtp.inbox.reject.add("gone@example.org")
    smtp.start()
    with transaction.atomic():
        later = enqueue_email(
            to="later@example.org", subject="s", text="t", kind="test", dedupe_key="t:1"
        )
        gone = enqueue_email(
            to="gone@example.org", subject="s", text="t", kind="test", dedupe_key="t:2"
        )
    first = deliver(message_pk=later.pk)
    assert first.outcome == "retry" and first.retry_in == 30
    assert deliver(message_pk=later.pk, now=in_seconds(30)).outcome == "sent"
    assert deliver(message_pk=gone.pk).outcome == "failed"
    later.refresh_from_db()
    gone.refresh_from_db()
    assert (later.status, later.attempts, "451" in later.last_error) == ("sent", 2, True)
    assert (gone.status, gone.attempts, "550" in gone.last_error) == ("failed", 1, True)
    assert addresses_of(smtp.inbox) == ["later@example.org"]


def test_an_escalation_whose_case_moved_on_while_the_server_was_down_is_not_sent(
    report, cast, smtp
):
    with time_machine.travel(at(11, 23, 10), tick=False):
        waiting, accepted = (report(description=f"垃圾 {i}") for i in range(2))
    smtp.stop()
    escalation_sweep(now=at(11, 23, 12))
    rows = {case: OutboxMessage.objects.get(case=case) for case in (waiting, accepted)}
    assert {deliver(message_pk=row.pk).outcome for row in rows.values()} == {"retry"}
    workflow.case_accept(case=accepted, actor=cast.liaison)  # on a fresh, resolve deadline
    smtp.start()

    outcomes = {
        case: deliver(message_pk=row.pk, now=in_seconds(30)).outcome for case, row in rows.items()
    }

    assert outcomes == {waiting: "sent", accepted: "outdated"}
    for row in rows.values():
        row.refresh_from_db()
    assert (rows[waiting].status, rows[waiting].attempts) == ("sent", 2)
    assert (rows[accepted].status, rows[accepted].attempts) == ("outdated", 1)
    [received] = smtp.inbox.messages
    assert waiting.number in received["Subject"] and accepted.number not in received["Subject"]
    # Once outdated, a late copy of its task leaves it so.
    assert deliver(message_pk=rows[accepted].pk, now=in_seconds(60)).outcome == "skipped"
    assert len(smtp.inbox.messages) == 1


def test_a_message_gives_up_after_the_last_attempt(smtp, settings):
    settings.OUTBOX_MAX_ATTEMPTS = 2
    smtp.stop()
    with transaction.atomic():
        message = enqueue_email(
            to="a@example.org", subject="s", text="t", kind="test", dedupe_key="give-up:1"
        )
    assert deliver(message_pk=message.pk).outcome == "retry"
    assert deliver(message_pk=message.pk, now=in_seconds(30)).outcome == "failed"
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("failed", 2)


def test_a_copy_of_a_retry_that_comes_early_makes_no_attempt(smtp):
    smtp.stop()
    with transaction.atomic():
        message = enqueue_email(
            to="a@example.org", subject="s", text="t", kind="test", dedupe_key="early:1"
        )
    assert deliver(message_pk=message.pk).outcome == "retry"
    # The broker delivers the task again at once: the retry is due in 30 s.
    assert deliver(message_pk=message.pk).outcome == "skipped"
    message.refresh_from_db()
    assert message.attempts == 1
    assert deliver(message_pk=message.pk, now=in_seconds(30)).outcome == "retry"


def test_a_task_delivered_three_times_while_the_server_is_down_spends_one_attempt_budget(
    worker, smtp, settings
):
    # Three attempts, two seconds apart: enough for a server that is back after two.
    settings.OUTBOX_MAX_ATTEMPTS = 3
    settings.OUTBOX_RETRY_BASE_SECONDS = settings.OUTBOX_RETRY_MAX_SECONDS = 2
    smtp.stop()
    with transaction.atomic():
        message = enqueue_email(
            to="a@example.org", subject="s", text="t", kind="test", dedupe_key="thrice:1"
        )
    tasks.send_outbox_message.delay(message.pk)
    tasks.send_outbox_message.delay(message.pk)
    wait_for(
        lambda: OutboxMessage.objects.get(pk=message.pk).attempts >= 2, what="a second attempt"
    )
    smtp.start()
    wait_for(
        lambda: OutboxMessage.objects.get(pk=message.pk).status != "pending", what="an outcome"
    )
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("sent", 3)
    assert addresses_of(smtp.inbox) == ["a@example.org"]


def test_with_the_broker_down_the_change_commits_and_the_message_waits(overdue, cast):
    with celery_broker("redis://127.0.0.1:1/0"):  # nothing listens on port 1
        result = escalation_sweep(now=at(11, 23, 12))
    assert len(result.escalated) == 1
    message = OutboxMessage.objects.get()
    assert message.status == "pending"  # the next sweeps re-queue it


def test_a_calendar_change_too_large_for_a_request_is_followed_by_the_worker(
    report, queues, monkeypatch
):
    from cases.services import calendar_changes
    from departments.models import CalendarChange, Holiday

    monkeypatch.setattr(calendar_changes, "INLINE_LIMIT", 0)  # every clock is "too many"
    friday = datetime(UNKNOWN_YEAR, 2, 5, 16, tzinfo=SHANGHAI)  # a year nobody knows: weekends only
    with time_machine.travel(friday, tick=False):
        case = report()  # 2 working hours: Monday 10:00
    assert case.due_at == friday + timedelta(days=3, hours=-6)
    with running_worker():
        with time_machine.travel(friday + timedelta(hours=1), tick=False):
            entry = Holiday.objects.create(date=datetime(UNKNOWN_YEAR, 2, 8).date(), kind="holiday")
        assert entry.deadlines_moving_later
        wait_for(
            lambda: CalendarChange.objects.filter(followed_at__isnull=False).exists(),
            what="the worker to move the deadlines with the calendar",
        )
    case.refresh_from_db()
    assert case.due_at == friday + timedelta(days=4, hours=-6)  # Tuesday 10:00


def test_with_the_broker_hung_queuing_gives_up_in_seconds(tmp_path):
    """Fault: Redis accepts connections and never answers (hung, or cut off by a network
    partition). Action: a process set up as in production (CELERY_BROKER_URL) queues an
    email's delivery, as a web request does after its commit. Holds: it gives up within
    seconds, the row left for the sweep's re-queue; it waited forever, and gunicorn killed
    the request after 30 s, answering 500 for a change that was saved."""
    script = (
        "import time, django; django.setup()\n"
        "from cases.services.outbox.publishing import publish\n"
        "started = time.monotonic()\n"
        "print(publish([1]), time.monotonic() - started)\n"
    )
    hung = HungBroker()
    try:
        env = environ(
            **production(host="127.0.0.1"),
            DJANGO_SETTINGS_MODULE="governance.settings",
            CELERY_BROKER_URL=f"redis://127.0.0.1:{hung.port}/0",
            VAR_DIR=str(tmp_path / "var"),
        )
        result = subprocess.run(
            [sys.executable, "-c", script],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        hung.close()
    assert result.returncode == 0, result.stderr
    queued, seconds = result.stdout.split()
    assert queued == "0"
    assert float(seconds) < 20
    assert hung.accepted  # it did reach the broker, which never answered


def test_a_batch_stops_at_a_silent_mail_server_and_its_rest_is_sent_later_once(
    queues, smtp, settings
):
    """A mail server that accepts and never answers costs a batch one EMAIL_TIMEOUT, not one
    per message until the batch's time limit: the batch stops at the first message it does
    not answer and hands the others on, untried, after its backoff delay. Once the server
    answers, the first one's retry and the batch handed on send each once, without waiting
    for the sweep's re-queue of stuck rows."""
    settings.OUTBOX_RETRY_BASE_SECONDS = settings.OUTBOX_RETRY_MAX_SECONDS = 1
    settings.OUTBOX_REQUEUE_AFTER_SECONDS = 3600
    pks = []
    for n in range(3):  # rows whose tasks were lost: only this test's calls deliver them
        message = build_message(
            to=f"{n}@example.org", subject="s", text="t", kind="test", dedupe_key=f"silent:{n}"
        )
        message.save()
        pks.append(message.pk)

    with contextmanager(hung_smtp_server)(settings, timeout=1):
        started = time.monotonic()
        outcomes = tasks.deliver_outbox_messages(pks)  # the task's body, as the worker runs it
        elapsed = time.monotonic() - started

    assert elapsed < 2.5  # one timeout of 1 s, not one per message
    assert outcomes == {"retry": 1, "not_tried": 2}
    rows = OutboxMessage.objects.filter(pk__in=pks).order_by("pk")
    assert list(rows.values_list("status", "attempts")) == [("pending", 1), *[("pending", 0)] * 2]
    # Due with the batch handed on, not before: the sweep's re-queue of stuck rows leaves
    # them to it.
    handed_on = rows.exclude(pk=pks[0]).values_list("next_attempt_at", flat=True)
    assert all(due > timezone.now() - timedelta(seconds=0.5) for due in handed_on)

    settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = smtp.port, 5  # the server answers again
    with running_worker():
        wait_for(lambda: not rows.filter(status="pending").exists(), what="the three sent")
        time.sleep(1.5)  # a later copy of a task sends nothing
    assert list(rows.values_list("status", "attempts")) == [("sent", 2), *[("sent", 1)] * 2]
    assert addresses_of(smtp.inbox) == ["0@example.org", "1@example.org", "2@example.org"]
