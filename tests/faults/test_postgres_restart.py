"""Fault: PostgreSQL really restarts in the middle of a sweep.

The shared server on 5432 serves every other test, so this test starts a private
PostgreSQL cluster of its own (initdb into a temporary folder, on a free port), loads a
small demo district with overdue cases into it, and restarts that server (`pg_ctl restart
-m fast`) while a sweep is inside its transaction. Holds: the interrupted sweep changed
nothing, the next sweep escalates every due rung exactly once, every escalation has its
audit row and its emails queued, and a third sweep finds nothing left to do.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import psycopg2
import pytest
from django.utils import timezone

from tests.processes import free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")
ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.xdist_group("faults"),
    pytest.mark.skipif(not (PG_BIN / "initdb").exists(), reason="PostgreSQL 15 server binaries"),
]


def as_postgres(*command: str) -> list[str]:
    # The server refuses to run as root; CI runs as root, a developer as themselves.
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else list(command)


class PrivateServer:
    def __init__(self, folder: Path, port: int):
        self.folder, self.port = folder, port
        self.data = folder / "data"

    def pg_ctl(self, *args: str) -> None:
        subprocess.run(
            as_postgres(
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(self.data),
                "-w",
                "-t",
                "60",
                "-l",
                str(self.folder / "server.log"),
                *args,
            ),
            check=True,
            capture_output=True,
        )

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder}"
        self.pg_ctl("-o", options, "start")

    def connect(self):
        connection = psycopg2.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="gov"
        )
        connection.autocommit = True
        return connection

    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/gov"


@pytest.fixture(scope="module")
def server():
    folder = Path(tempfile.mkdtemp(prefix="pg-restart-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    private = PrivateServer(folder, free_port())
    subprocess.run(
        as_postgres(
            str(PG_BIN / "initdb"), "-D", str(private.data), "-A", "trust", "-U", "postgres"
        ),
        check=True,
        capture_output=True,
    )
    private.start()
    try:
        subprocess.run(
            [
                str(PG_BIN / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(private.port),
                "-U",
                "postgres",
                "gov",
            ],
            check=True,
            capture_output=True,
        )
        yield private
    finally:
        private.pg_ctl("-m", "immediate", "stop")
        shutil.rmtree(folder, ignore_errors=True)


def manage(server, *args, check=True, **popen):
    env = {
        **os.environ,
        "DATABASE_URL": server.url(),
        "CELERY_BROKER_URL": "memory://",
        "VAR_DIR": str(server.folder / "var"),
    }
    command = [sys.executable, str(ROOT / "manage.py"), *args]
    if popen:
        return subprocess.Popen(command, env=env, cwd=ROOT, **popen)
    return subprocess.run(command, env=env, cwd=ROOT, check=check, capture_output=True, text=True)


def count(server, sql, params=()):
    with server.connect() as connection, connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


DUE_RUNGS_SQL = """
    SELECT
      (SELECT count(*) FROM cases_case WHERE state IN ('fallback','assigned','in_progress')
         AND due_at IS NOT NULL AND remind_at <= %(now)s AND due_at > %(now)s)
    + (SELECT count(*) FROM cases_case WHERE state IN ('fallback','assigned','in_progress')
         AND due_at <= %(now)s)
    + (SELECT count(*) FROM cases_case WHERE state IN ('fallback','assigned','in_progress')
         AND due_at IS NOT NULL AND escalate_2_at <= %(now)s)
    + (SELECT count(*) FROM cases_case WHERE state IN ('fallback','assigned','in_progress')
         AND due_at IS NOT NULL AND escalate_3_at <= %(now)s)
"""


def test_a_postgresql_restart_in_the_middle_of_a_sweep_loses_and_doubles_nothing(server):
    manage(server, "migrate", "--noinput")
    manage(server, "seed_demo", "--cases", "400", "--seed", "11")
    now = timezone.now() + timedelta(days=2)
    due = count(server, DUE_RUNGS_SQL, {"now": now})
    assert due > 0, "the demo data should have overdue cases"
    # The demo's history: escalations of steps taken late, before any sweep ran.
    seeded = count(server, "SELECT count(*) FROM cases_escalation")
    last_seeded = count(server, "SELECT COALESCE(max(id), 0) FROM cases_escalation")

    # Hold the outbox table so the sweep stops inside its transaction, after its inserts.
    locker = server.connect()
    locker.autocommit = False
    locker.cursor().execute("LOCK TABLE cases_outboxmessage IN ACCESS EXCLUSIVE MODE")
    sweep = manage(
        server,
        "escalate_overdue",
        "--now",
        now.isoformat(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while not count(
        server,
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = 'gov'",
    ):
        assert sweep.poll() is None, sweep.stdout.read().decode()
        assert time.monotonic() < deadline, "the sweep never reached the outbox"
        time.sleep(0.2)

    server.pg_ctl("-m", "fast", "restart")

    output = sweep.communicate(timeout=60)[0].decode()
    assert sweep.returncode != 0, output  # the sweep lost its server mid-transaction
    assert count(server, "SELECT count(*) FROM cases_escalation") == seeded

    manage(server, "escalate_overdue", "--now", now.isoformat())

    assert count(server, "SELECT count(*) FROM cases_escalation") == seeded + due
    assert (
        count(
            server,
            "SELECT count(*) FROM cases_escalation e WHERE e.id > %s AND NOT EXISTS "
            "(SELECT 1 FROM cases_outboxmessage m WHERE m.escalation_id = e.id)",
            [last_seeded],
        )
        == 0
    )
    again = manage(server, "escalate_overdue", "--now", now.isoformat(), "--dry-run")
    assert "would escalate 0, reminders 0, emails 0" in again.stdout
    assert count(server, "SELECT count(*) FROM cases_escalation") == seeded + due
