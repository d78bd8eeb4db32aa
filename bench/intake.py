"""The intake section: reports per second through gunicorn started as in the Procfile,
the web form and Open311 beside a bare insert view and a signed-in ORM insert served by
the same gunicorn (bench/views.py), with each request's CPU time split between the
gunicorn workers and PostgreSQL (read from /proc).
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.harness import PYTHON, ROOT, WORK, Bench, log
from bench.report import Row, ratio, spread, verdict

DEMO_PASSWORD = "demo-pass-2026"  # noqa: S105 - seed_demo's public demo password


@dataclass(frozen=True)
class IntakeTarget:
    name: str
    path: str
    form: dict
    headers: dict
    ok: tuple[int, ...]  # the statuses that count as a report taken
    fresh: tuple[str, ...] = ()  # fields given a new UUID in every request


def intake(bench: Bench, size: int, database: str) -> None:
    """Throughput as deployed, then (for information) with a new database connection
    per request, each beside the bare insert view served by the same gunicorn."""
    prepared = bench.probe("intake_prepare", database=database)
    deployed = os.environ.get("DATABASE_CONN_MAX_AGE")
    for connections, extra in (
        ("as deployed", {}),
        ("a new database connection per request", {"DATABASE_CONN_MAX_AGE": "0"}),
    ):
        if deployed == "0" and extra:
            continue  # the deployed setting already is the per-request one
        with _gunicorn(bench, database, **extra) as (port, gunicorn_pid):
            _intake_load(
                bench,
                port,
                gunicorn_pid,
                prepared,
                size,
                connections,
                informative=bool(extra),
                database=database,
            )


@contextmanager
def _gunicorn(bench: Bench, database: str, **extra):
    port = free_port()
    procfile = (ROOT / "Procfile").read_text().splitlines()
    web = next(line.split(":", 1)[1].strip() for line in procfile if line.startswith("web:"))
    log(f"intake: gunicorn as in the Procfile on 127.0.0.1:{port} {extra or ''}: {web}")
    server_log = open(WORK / "gunicorn.log", "w")  # noqa: SIM115
    server = subprocess.Popen(
        ["bash", "-c", web],
        cwd=ROOT,
        env=bench.env(
            database,
            HOST="127.0.0.1",
            PORT=str(port),
            PATH=f"{Path(PYTHON).parent}:{os.environ.get('PATH', '')}",
            **extra,
        ),
        stdout=server_log,
        stderr=server_log,
        start_new_session=True,
    )
    try:
        wait_for_port(port, server)
        yield port, server.pid  # the line execs gunicorn's master: same process
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
        server_log.close()


def _intake_load(
    bench: Bench,
    port: int,
    gunicorn_pid: int,
    prepared: dict,
    size: int,
    connections: str,
    informative: bool,
    database: str,
) -> None:
    from bench.loadgen import login, post_load

    seconds, concurrency = bench.args.intake_seconds, 16
    description = "小区东门堆放生活垃圾已有三天，气味很大"
    web_form = {
        "category": prepared["category_id"],
        "cell": prepared["cell_id"],
        "description": description,
        "urgency": "normal",
        "confirm_new": "on",
    }
    signed_in_form = {
        "township": prepared["township_id"],
        "category": prepared["category_id"],
        "cell": prepared["cell_id"],
        "description": description,
    }
    open311_form = {
        "api_key": prepared["api_key"],
        "service_code": prepared["category_code"],
        "lat": prepared["lat"],
        "long": prepared["lng"],
        "description": description,
    }
    headers = login(
        host="127.0.0.1", port=port, username=prepared["username"], password=DEMO_PASSWORD
    )
    targets = (
        IntakeTarget("bare", "/bench/insert/", {"description": description}, {}, (201,)),
        IntakeTarget("signed_in", "/bench/insert-case/", signed_in_form, headers, (201,)),
        # A new one-time key with each report, as the page gives every form its own.
        IntakeTarget("web", "/cases/new/", web_form, headers, (302,), fresh=("idempotency_key",)),
        IntakeTarget("open311", "/open311/v2/requests.json", open311_form, {}, (200, 201)),
    )

    def load(target: IntakeTarget, **how):
        return post_load(
            host="127.0.0.1",
            port=port,
            path=target.path,
            form=target.form,
            headers=target.headers,
            fresh=target.fresh,
            **how,
        )

    # Warm-up, not counted: each worker loads the routing index, the calendar, templates.
    for target in targets:
        load(target, concurrency=4, seconds=3, max_requests=40)
    written_before = bench.probe("intake_counts", database=database)
    meters = {
        "gunicorn": ProcessTreeCpu(gunicorn_pid),
        "PostgreSQL": ProcessTreeCpu.of_postgres(f"{bench.admin_url}/postgres"),
    }
    names = [target.name for target in targets]
    results = {name: [] for name in names}
    cpu = {name: {meter: [] for meter in meters} for name in names}
    statuses = {name: {} for name in names}
    for run in range(bench.args.runs):
        for target in targets:
            name, ok = target.name, target.ok
            before = {meter: m.milliseconds() for meter, m in meters.items()}
            outcome = load(target, concurrency=concurrency, seconds=seconds)
            answered = sum(outcome.statuses.values())
            for meter, m in meters.items():
                if answered and before[meter] is not None:
                    cpu[name][meter].append((m.milliseconds() - before[meter]) / answered)
            results[name].append(outcome.per_second(*ok))
            for status, n in outcome.statuses.items():
                statuses[name][status] = statuses[name].get(status, 0) + n
            log(
                f"intake ({connections}) run {run + 1} {name}: "
                f"{outcome.per_second(*ok):.1f}/s {outcome.statuses} errors={outcome.errors} "
                f"p50={outcome.p50_ms:.0f} ms"
            )
    # A success that wrote no row (a replayed report, say) would flatter the figure.
    written_after = bench.probe("intake_counts", database=database)
    for target in targets:
        answered = sum(statuses[target.name].get(status, 0) for status in target.ok)
        written = written_after[target.name] - written_before[target.name]
        if written != answered:
            bench.notes.append(
                f"Intake ({connections}), {target.name}: {answered} successful answers "
                f"but {written} rows written."
            )
    bench.raw.setdefault("intake", {})[connections] = {
        "per_second": results,
        "statuses": statuses,
        "cpu_ms_per_request": cpu,
    }
    label = f"{concurrency} connections, {seconds:g} s, N={size:,}, {connections}"

    def cpu_row(name: str, title: str) -> None:
        if all(cpu[name][meter] for meter in meters):
            bench.rows.append(
                Row(
                    f"intake: {title}, CPU per request (ms): " + " + ".join(meters),
                    label,
                    " + ".join(spread(cpu[name][meter]) for meter in meters),
                    " + ".join(spread(cpu["bare"][meter]) for meter in meters),
                    ratio(
                        [sum(statistics.median(cpu[name][m]) for m in meters)],
                        [sum(statistics.median(cpu["bare"][m]) for m in meters)],
                    ),
                    "(information)",
                )
            )

    for name, title in (
        ("web", "web form POST /cases/new/"),
        ("open311", "Open311 POST requests.json"),
    ):
        r = ratio(results[name], results["bare"])
        target, judged = (
            ("(information)", "")
            if informative
            else ("≥ 0.6×", verdict(r is not None and r >= 0.6))
        )
        bench.rows.append(
            Row(
                f"intake: {title} (cases/s) vs bare insert view",
                label,
                f"{spread(results[name])} [{statuses[name]}]",
                f"{spread(results['bare'])} [{statuses['bare']}]",
                r,
                target,
                judged,
            )
        )
        r = ratio(results[name], results["signed_in"])
        bench.rows.append(
            Row(
                f"intake: {title} (cases/s) vs signed-in ORM insert",
                label,
                spread(results[name]),
                f"{spread(results['signed_in'])} [{statuses['signed_in']}]",
                r,
                "(information)",
            )
        )
        cpu_row(name, title)
    # The least a signed-in report costs, against the same bare view: how far below
    # the bare view any report through sign-in and the ORM stays.
    bench.rows.append(
        Row(
            "intake: signed-in ORM insert (cases/s) vs bare insert view",
            label,
            f"{spread(results['signed_in'])} [{statuses['signed_in']}]",
            f"{spread(results['bare'])} [{statuses['bare']}]",
            ratio(results["signed_in"], results["bare"]),
            "(information)",
        )
    )
    cpu_row("signed_in", "signed-in ORM insert")


class ProcessTreeCpu:
    """CPU time (user + system) of a process and of its children, running or ended, read
    from Linux's /proc; `milliseconds()` is None where that cannot be read (another OS,
    a PostgreSQL on another machine)."""

    TICK_MS = 1000 / os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 10.0

    def __init__(self, pid: int | None):
        self.pid = pid

    @classmethod
    def of_postgres(cls, url: str) -> ProcessTreeCpu:
        """The postmaster serving `url`: the parent of this connection's backend (its
        backends, including ended ones, are its children)."""
        import psycopg2

        try:
            with psycopg2.connect(url) as conn, conn.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                backend = cursor.fetchone()[0]
                return cls(cls._stat(backend)[0])
        except (OSError, IndexError, psycopg2.Error):
            return cls(None)

    @staticmethod
    def _stat(pid: int) -> list[int]:
        """ppid, utime, stime, cutime, cstime of `pid` (proc(5): fields 4 and 14–17)."""
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return [int(fields[1]), *(int(f) for f in fields[11:15])]

    def milliseconds(self) -> float | None:
        if self.pid is None:
            return None
        try:
            ticks = sum(self._stat(self.pid)[1:])
        except OSError:
            return None
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = self._stat(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue  # ended while we looked
            if stat[0] == self.pid:
                ticks += sum(stat[1:])
        return ticks * self.TICK_MS


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, server: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("gunicorn stopped; see bench/.work/gunicorn.log")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                time.sleep(1)  # let both workers boot
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("gunicorn did not start; see bench/.work/gunicorn.log")
