"""The bench's harness: the paths, the environment every process it starts gets, running
manage.py and the probes (bench/probes.py) in fresh processes, psql, the `gov_bench_*`
databases and the bench's own Redis databases.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.report import Row

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
WORK = BENCH / ".work"
PYTHON = sys.executable
CACHE_REDIS_URL = "redis://127.0.0.1:6379/8"


def log(message: str) -> None:
    print(f"[bench {datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


class Bench:
    """One run: its arguments, and the rows, notes and raw figures its sections collect."""

    def __init__(self, args):
        self.args = args
        self.rows: list[Row] = []
        self.notes: list[str] = []
        self.raw: dict = {}
        self.admin_url = args.postgres.rstrip("/")
        self.redis_url = self._redis_url()
        if self.redis_url.startswith("redis://"):
            import redis

            redis.Redis.from_url(CACHE_REDIS_URL).flushdb()  # no cache from an earlier run
        WORK.mkdir(parents=True, exist_ok=True)

    def _redis_url(self) -> str:
        """Redis DB 7 when a server answers (production's broker), else an in-memory one."""
        try:
            with socket.create_connection(("127.0.0.1", 6379), timeout=1):
                return "redis://127.0.0.1:6379/7"
        except OSError:
            self.notes.append("No Redis on 127.0.0.1:6379: the sweep queued to memory://.")
            return "memory://"

    def env(self, database: str, **extra) -> dict:
        env = dict(os.environ)
        env.update(
            DATABASE_URL=f"{self.admin_url}/{database}",
            DJANGO_SETTINGS_MODULE="bench.settings",
            DJANGO_DEBUG="false",
            DJANGO_SECRET_KEY="bench-only-not-a-secret",  # noqa: S106
            DJANGO_SECURE_SSL_REDIRECT="false",
            LOG_LEVEL="WARNING",
            CELERY_BROKER_URL=self.redis_url,
            EMAIL_URL="console:",
            SITE_URL="https://127.0.0.1:8000",
            VAR_DIR=str(WORK / "var"),
            PYTHONPATH=str(ROOT),
        )
        env.pop("REDIS_URL", None)
        env.pop("CACHE_URL", None)
        if self.redis_url.startswith("redis://"):
            # As deployed (Procfile: PostgreSQL and Redis): the shared cache, which also
            # holds the sessions; the bench's own Redis database, flushed at the start.
            env["CACHE_URL"] = CACHE_REDIS_URL
        env.update(extra)
        return env

    def run(self, argv: list, *, database: str, python=PYTHON, timeout=None, **extra) -> str:
        completed = subprocess.run(
            [str(python), *map(str, argv)],
            cwd=ROOT,
            env=self.env(database, **extra),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if completed.returncode != 0:
            raise RuntimeError(
                f"{' '.join(map(str, argv))} failed ({completed.returncode}):\n"
                f"{completed.stderr[-3000:]}"
            )
        return completed.stdout

    def probe(self, action: str, *args, database: str, python=PYTHON, script=None) -> dict:
        extra = {}
        if script is None:
            script = BENCH / "probes.py"
        else:
            extra["DJANGO_SETTINGS_MODULE"] = "bench.peer.settings"
        output = self.run([script, action, *args], database=database, python=python, **extra)
        return json.loads(output.strip().splitlines()[-1])

    def sql(self, statement: str, database: str = "postgres") -> None:
        subprocess.run(
            [
                "psql",
                f"{self.admin_url}/{database}",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                statement,
            ],
            check=True,
            capture_output=True,
        )

    def sql_value(self, query: str, database: str = "postgres") -> str:
        return subprocess.run(
            ["psql", f"{self.admin_url}/{database}", "-tAq", "-c", query],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()

    def create_database(self, name: str) -> None:
        assert name.startswith("gov_bench_"), name
        self.sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.sql(f'CREATE DATABASE "{name}"')

    def drop_database(self, name: str) -> None:
        assert name.startswith("gov_bench_"), name
        if not self.args.keep:
            self.sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def flush_redis(self) -> None:
        """Drop the delivery tasks the sweep queued (Redis DB 7 is the bench's own)."""
        if self.redis_url.startswith("redis://"):
            import redis

            redis.Redis.from_url(self.redis_url).flushdb()
