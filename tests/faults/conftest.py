"""Real processes for the fault tests: a private Redis server (never the shared one), an
SMTP server (aiosmtpd) that can be down, slow, or answer 4xx and 5xx, and Celery workers
and beats started as `celery -A governance …` subprocesses on the pytest test database.

The workers, like the Procfile's, name no queue: they consume both of the app's (`celery`
and `mail`), which are the test's own since its Redis server is."""

import asyncio
import email
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from aiosmtpd.controller import Controller
from django.db import connection
from django.utils import timezone

from cases.models import CaseEvent, Escalation, OutboxMessage
from tests.brokers import celery_broker
from tests.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
CELERY = str(Path(sys.executable).parent / "celery")
REDIS_SERVER = "redis-server"


def wait_for(condition, *, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


# -- Redis ------------------------------------------------------------------------------


class RedisServer:
    """Our own redis-server on a free port, with no persistence: a restart loses its queue."""

    def __init__(self):
        self.port = free_port()
        self.process = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        self.process = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self._answers, timeout=10, what="redis-server to start")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def restart(self):
        self.stop()
        self.start()

    def queued(self) -> list[bytes]:
        """The tasks waiting in every queue the app declares (the sweep's and the emails')."""
        import redis

        from governance.celery import app

        client = redis.Redis.from_url(self.url)
        return [raw for queue in app.conf.task_queues for raw in client.lrange(queue.name, 0, -1)]


@pytest.fixture
def private_redis():
    server = RedisServer()
    yield server
    server.stop()


@pytest.fixture
def broker(private_redis):
    """This process publishes to the private Redis (sweeps run here, on_commit)."""
    with celery_broker(private_redis.url):
        yield private_redis


# -- SMTP -------------------------------------------------------------------------------


class Mailbox:
    """An aiosmtpd handler whose behaviour the test sets: answer 451 to the next
    `tempfail` messages, 550 to every one while `reject`, wait `delay` seconds before
    answering, or `hold` every accepted message until released."""

    def __init__(self):
        self.received: list[tuple[str, str]] = []  # (Message-ID, recipient)
        self.tempfail = 0
        self.reject = False
        self.delay = 0.0
        self.hold = False
        self.arrived = threading.Event()
        self.released = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        if self.reject:
            return "550 5.1.1 Mailbox unavailable"
        if self.tempfail > 0:
            self.tempfail -= 1
            return "451 4.3.0 Try again later"
        message = email.message_from_bytes(envelope.content)
        for rcpt in envelope.rcpt_tos:
            self.received.append((message["Message-ID"], rcpt))
        if self.hold:
            self.arrived.set()
            while not self.released.is_set():
                await asyncio.sleep(0.05)
        if self.delay:
            await asyncio.sleep(self.delay)
        return "250 OK"

    def message_ids(self) -> Counter:
        return Counter(message_id for message_id, _rcpt in self.received)


class SmtpServer:
    def __init__(self):
        self.port = free_port()
        self.mailbox = Mailbox()
        self.controller = None

    def start(self):
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self):
        if self.controller is not None:
            self.mailbox.released.set()
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp():
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


# -- Celery processes -------------------------------------------------------------------


class Processes:
    """Celery workers and beats on the test database, stopped at the end of the test."""

    def __init__(self, tmp_path: Path, redis: RedisServer, smtp: SmtpServer):
        self.tmp_path = tmp_path
        self.redis = redis
        self.smtp = smtp
        self.started: list[tuple[subprocess.Popen, Path]] = []

    def env(self, **extra) -> dict:
        db = connection.settings_dict
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "governance.settings",
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "CELERY_BROKER_URL": self.redis.url,
            "EMAIL_URL": f"smtp://127.0.0.1:{self.smtp.port}",
            "EMAIL_TIMEOUT": "2",
            "OUTBOX_RETRY_BASE_SECONDS": "1",
            "OUTBOX_RETRY_MAX_SECONDS": "2",
            # A beat's sweep expires after 90 % of the period: at 1 s, a message that took
            # longer than 0.9 s to reach a busy worker was dropped, and too few ran.
            "ESCALATION_SWEEP_SECONDS": "2",
            "PYTHONUNBUFFERED": "1",
        }
        env.update(extra)
        return env

    def _spawn(self, args: list[str], name: str, **extra) -> tuple[subprocess.Popen, Path]:
        log = self.tmp_path / f"{name}.log"
        process = subprocess.Popen(
            [CELERY, "-A", "governance", *args],
            cwd=ROOT,
            env=self.env(**extra),
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.started.append((process, log))
        return process, log

    def worker(self, name: str, *, concurrency: int = 1, **extra) -> subprocess.Popen:
        process, log = self._spawn(
            [
                "worker",
                "-l",
                "info",
                "-c",
                str(concurrency),
                "-P",
                "prefork",
                "--without-mingle",
                "--without-gossip",
                "--without-heartbeat",
                "-n",
                f"{name}@%h",
            ],
            name,
            **extra,
        )
        self.wait_for(
            lambda: "ready." in log.read_text() or process.poll() is not None,
            timeout=60,
            what=f"worker {name}",
        )
        assert process.poll() is None, log.read_text()
        return process

    def beat(self, name: str) -> subprocess.Popen:
        process, _log = self._spawn(
            ["beat", "-l", "info", "-s", str(self.tmp_path / f"{name}-schedule")], name
        )
        return process

    @staticmethod
    def children(process: subprocess.Popen) -> list[int]:
        """The pool processes of a worker (the ones that run the tasks)."""
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == process.pid:
                    pids.append(int(entry.name))
        return pids

    def stop(self, process: subprocess.Popen):
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def stop_all(self):
        for process, _log in self.started:
            self.stop(process)

    def logs(self) -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text()[-3000:]}" for _p, log in self.started)

    def wait_for(self, condition, *, timeout: float, what: str):
        """`wait_for` on work these processes do: a timeout alone says nothing of why, so
        their logs come with it."""
        try:
            return wait_for(condition, timeout=timeout, what=what)
        except AssertionError as timed_out:
            raise AssertionError(f"{timed_out}\n{self.logs()}") from None


@pytest.fixture
def celery_processes(tmp_path, private_redis, smtp):
    processes = Processes(tmp_path, private_redis, smtp)
    yield processes
    processes.stop_all()
    # The pool processes' database sessions end with them; let PostgreSQL notice before
    # the test database is flushed.
    connection.close()


# -- the world in which escalations are due ---------------------------------------------


@pytest.fixture
def overdue_cases(report, world, cast):
    """Three cases reported ten days ago, so every rung of their ladder is due now: one
    assigned to CG, one in the north pool, one assigned in the south township."""
    with time_machine.travel(timezone.now() - timedelta(days=10), tick=False):
        return [
            report(),
            report(category=world.lamp),
            report(reporter=cast.south_caseworker, cell=world.s1),
        ]


DUE_RUNGS = 9  # three cases × levels 1, 2 and 3


def assert_nothing_half_done():
    """Each escalation has its audit row and its emails; each case's level is its top rung."""
    for escalation in Escalation.objects.select_related("case"):
        events = CaseEvent.objects.filter(
            case=escalation.case, action="escalate", data__escalation=escalation.pk
        )
        assert events.count() == 1, f"escalation {escalation.pk} has {events.count()} audit rows"
        assert OutboxMessage.objects.filter(escalation=escalation).exists()
    for escalation in Escalation.objects.order_by("case_id", "-level").distinct("case_id"):
        assert escalation.case.escalation_level == escalation.level


def assert_all_due_escalated_once(cases):
    rows = list(Escalation.objects.values_list("case_id", "deadline_seq", "level"))
    assert len(rows) == len(set(rows)) == DUE_RUNGS
    assert {case_id for case_id, _seq, _level in rows} == {case.pk for case in cases}


def assert_every_email_delivered(smtp: SmtpServer, *, duplicates_allowed: bool):
    messages = list(OutboxMessage.objects.all())
    assert messages
    assert {m.status for m in messages} == {OutboxMessage.Status.SENT}
    received = smtp.mailbox.message_ids()
    assert set(received) == {m.message_id for m in messages}, "every email, and no other"
    if not duplicates_allowed:
        assert max(received.values()) == 1, f"sent twice: {received}"


def all_sent() -> bool:
    return (
        OutboxMessage.objects.exists()
        and not OutboxMessage.objects.exclude(status=OutboxMessage.Status.SENT).exists()
    )
