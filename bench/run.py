"""`make bench`: the product's speed and cost, each figure beside a reference measured in
the same run (absolute times drift on a shared machine; ratios hold).

    make bench                                   # N = 100,000 and 1,000,000, as the issue asks
    make bench BENCH_SIZES=10000 BENCH_RUNS=1    # a quick look

For each size N it creates its own PostgreSQL database `gov_bench_<N>` (dropped at the
end), migrates it, runs `seed_demo --cases N`, and measures the escalation sweep (against
one hand-written SQL statement and against django-helpdesk's `escalate_tickets`, which it
installs into a throwaway virtual environment under bench/.work/) and the pages (against a
bare signed-in page). Routing runs on a synthetic district of its own; intake runs against
gunicorn started as in the Procfile, with a bare insert view as the reference. It prints
one table and writes it, with the machine and the date, to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
WORK = BENCH / ".work"
PYTHON = sys.executable
PEER_VENV = WORK / "helpdesk-venv"
PEER_PYTHON = PEER_VENV / "bin" / "python"
PEER_PACKAGES = ["django-helpdesk", "psycopg2-binary"]
README_START = "<!-- bench:table -->"
README_END = "<!-- /bench:table -->"
CACHE_REDIS_URL = "redis://127.0.0.1:6379/8"
DEMO_PASSWORD = "demo-pass-2026"  # noqa: S105 - seed_demo's public demo password


def log(message: str) -> None:
    print(f"[bench {datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


# -- results --------------------------------------------------------------------------------


@dataclass
class Row:
    figure: str
    size: str
    product: str
    reference: str
    ratio: float | None
    target: str
    verdict: str = ""


@dataclass(frozen=True)
class IntakeTarget:
    name: str
    path: str
    form: dict
    headers: dict
    ok: tuple[int, ...]  # the statuses that count as a report taken
    fresh: tuple[str, ...] = ()  # fields given a new UUID in every request


def spread(values: list[float], fmt: str = "{:.3g}") -> str:
    """The median with the range: `12.3 (11.9–13.0)`."""
    if not values:
        return "—"
    median = fmt.format(statistics.median(values))
    if len(values) == 1:
        return median
    return f"{median} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def ratio(product: list[float], reference: list[float]) -> float | None:
    if not product or not reference or statistics.median(reference) == 0:
        return None
    return statistics.median(product) / statistics.median(reference)


# -- processes and databases ------------------------------------------------------------------


class Bench:
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

    # -- sections ---------------------------------------------------------------------------

    def seeded_database(self, size: int) -> str:
        database = f"gov_bench_{size}"
        log(f"N={size}: creating {database}, migrating, seeding")
        self.create_database(database)
        self.run(["manage.py", "migrate", "--noinput", "-v", "0"], database=database)
        started = time.perf_counter()
        self.run(["manage.py", "seed_demo", "--cases", size, "--seed", "7"], database=database)
        seconds = time.perf_counter() - started
        self.raw.setdefault("seed_seconds", {})[size] = seconds
        self.rows.append(
            Row(
                "seed_demo --cases N: wall time (s)",
                f"{size:,}",
                f"{seconds:.1f}",
                "—",
                None,
                "(information)",
            )
        )
        # As in service, where autovacuum analyses a table soon after a bulk load: the
        # plans of every section then rest on the seeded rows' statistics.
        self.sql("VACUUM ANALYZE", database)
        return database

    def sweep(self, size: int, database: str) -> None:
        runs = self.args.runs
        now = datetime.now(UTC).replace(microsecond=0).isoformat()
        counts = self.probe("sweep_counts", now, database=database)
        log(f"N={size}: sweep over {counts}")
        floor, product = [], []
        for _run in range(runs):
            self.probe("sweep_reset", database=database)
            floor.append(self.probe("floor", now, database=database))
        for run in range(runs):
            self.probe("sweep_reset", database=database)
            product.append(self.probe("sweep", now, database=database))
            self.flush_redis()
            log(f"N={size}: product sweep {run + 1}/{runs}: {product[-1]['seconds']:.2f} s")
            if self.stop_after_slow_run(size, "the product sweep", product[-1]["seconds"], run):
                break
        self.probe("sweep_reset", database=database)
        self.raw.setdefault("sweep", {})[size] = {
            "counts": counts,
            "floor": floor,
            "product": product,
        }
        escalated = product[0]["cases"]
        rows_written = product[0]["rows"]
        if floor[0]["rows"] != rows_written:
            self.notes.append(
                f"N={size}: the floor inserted {floor[0]['rows']} escalation rows, the product "
                f"{rows_written}: they do not select the same rows."
            )
        label = f"{size:,} ({counts['open']:,} open, {escalated:,} due)"
        p_s = [r["seconds"] for r in product]
        f_s = [r["seconds"] for r in floor]
        r = ratio(p_s, f_s)
        self.rows.append(
            Row(
                "sweep: wall time (s) vs SQL floor",
                label,
                spread(p_s),
                spread(f_s),
                r,
                "≤ 5×",
                verdict(r is not None and r <= 5),
            )
        )
        per_case = [s / max(escalated, 1) * 1000 for s in p_s]
        self.rows.append(
            Row(
                "sweep: time per escalated case (ms) vs SQL floor",
                label,
                spread(per_case),
                spread([s / max(escalated, 1) * 1000 for s in f_s]),
                ratio(per_case, [s / max(escalated, 1) * 1000 for s in f_s]),
                "(information)",
            )
        )
        statements = [r["statements"] for r in product]
        self.raw.setdefault("sweep_statements", {})[size] = statements[0]
        self.rows.append(
            Row(
                "sweep: SQL statements vs SQL floor",
                label,
                spread(statements, "{:.0f}"),
                "1",
                statistics.median(statements),
                "constant in N",
                "see below",
            )
        )
        memory = [r["rss_growth_mb"] for r in product]
        self.rows.append(
            Row(
                "sweep: peak memory growth (MB) of the sweeping process",
                label,
                spread(memory),
                spread([r["rss_growth_mb"] for r in floor]) + " (floor's client)",
                None,
                "(information)",
            )
        )
        self.rows.append(
            Row(
                "sweep: then queuing its emails (worker task), s and MB",
                label,
                f"{spread([r['queue_seconds'] for r in product])} s, "
                f"{spread([r['queue_rss_growth_mb'] for r in product])} MB "
                f"[{product[0]['queued']:,} emails]",
                "—",
                None,
                "(information)",
            )
        )
        if self.args.peer:
            self.peer(size, escalated, label, per_case, memory, statements)

    def peer_venv(self) -> bool:
        if PEER_PYTHON.exists():
            return True
        log("Installing django-helpdesk into a throwaway virtual environment (bench/.work/)")
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
        installed = subprocess.run(
            [str(PEER_PYTHON), "-m", "pip", "install", "--quiet", *PEER_PACKAGES],
            capture_output=True,
            text=True,
        )
        if installed.returncode != 0:
            self.notes.append(
                "django-helpdesk could not be installed, so there is no peer figure: "
                + installed.stderr.strip().splitlines()[-1]
            )
            return False
        return True

    def stop_after_slow_run(self, size: int, what: str, seconds: float, run: int) -> bool:
        """Whether to stop repeating a run this slow; when so, adds a note saying why."""
        if seconds <= self.args.slow_seconds or run + 1 >= self.args.runs:
            return False
        self.notes.append(
            f"N={size}: {what} took {seconds:.0f} s, more than {self.args.slow_seconds:g} s "
            f"(BENCH_SLOW_SECONDS), so it ran {run + 1} time(s) instead of {self.args.runs}."
        )
        return True

    def peer(self, size, escalated, label, per_case, memory, statements) -> None:
        if not self.peer_venv():
            return
        cap = self.args.peer_max_due
        due = escalated if cap <= 0 else min(escalated, cap)
        tickets = size if due == escalated else max(due * 10, 1)
        database = f"gov_bench_peer_{size}"
        self.create_database(database)
        try:
            peer_probe = BENCH / "peer" / "probe.py"
            log(f"N={size}: django-helpdesk with {tickets} tickets, {due} due")
            self.probe(
                "setup", tickets, due, database=database, python=PEER_PYTHON, script=peer_probe
            )
            results = []
            for run in range(self.args.runs):
                self.probe("reset", database=database, python=PEER_PYTHON, script=peer_probe)
                results.append(
                    self.probe("sweep", database=database, python=PEER_PYTHON, script=peer_probe)
                )
                log(f"N={size}: escalate_tickets {run + 1}: {results[-1]['seconds']:.2f} s")
                what = "django-helpdesk's escalate_tickets"
                if self.stop_after_slow_run(size, what, results[-1]["seconds"], run):
                    break
        finally:
            self.drop_database(database)
        self.raw.setdefault("peer", {})[size] = {"tickets": tickets, "due": due, "runs": results}
        peer_ms = [r["seconds"] / max(r["escalated"], 1) * 1000 for r in results]
        where = f"{due:,} due of {tickets:,} tickets" + (
            "" if due == escalated else f" (capped: BENCH_PEER_MAX_DUE={cap})"
        )
        self.rows.append(
            Row(
                "sweep: time per escalated case (ms) vs django-helpdesk escalate_tickets",
                label,
                spread(per_case),
                f"{spread(peer_ms)} [{where}]",
                ratio(per_case, peer_ms),
                "(information)",
            )
        )
        self.rows.append(
            Row(
                "sweep: SQL statements vs django-helpdesk",
                label,
                spread(statements, "{:.0f}"),
                f"{spread([r['statements'] for r in results], '{:.0f}')} [{where}]",
                ratio(statements, [r["statements"] for r in results]),
                "(information)",
            )
        )
        self.rows.append(
            Row(
                "sweep: peak memory growth (MB) vs django-helpdesk",
                label,
                spread(memory),
                f"{spread([r['rss_growth_mb'] for r in results])} [{where}]",
                ratio(memory, [r["rss_growth_mb"] for r in results]),
                "(information)",
            )
        )

    def pages(self, size: int, database: str) -> None:
        log(f"N={size}: pages")
        result = self.probe("pages", self.args.runs, database=database)
        self.raw.setdefault("pages", {})[size] = result
        for key, page in result.items():
            role, url = key.split(" ", 1)
            if url == "/bench/page/":
                continue
            reference = result[f"{role} /bench/page/"]
            status = page["status"]
            shown = f"{spread(page['ms'])} ms, {page['queries']} queries"
            if status != 200:
                shown = f"HTTP {status}: " + shown
            r = ratio(page["ms"], reference["ms"])
            ok = status == 200 and page["median_ms"] < 300
            self.rows.append(
                Row(
                    f"page {url} as {role}",
                    f"{size:,}",
                    shown,
                    f"{spread(reference['ms'])} ms, {reference['queries']} queries (bare page)",
                    r,
                    "< 300 ms; queries constant in N",
                    verdict(ok) if status == 200 else refused(status),
                )
            )

    def routing(self) -> None:
        database = "gov_bench_routing"
        cells, rules, points = self.args.routing_cells, self.args.routing_rules, self.args.points
        log(f"routing: {cells} cells, {rules} rules, {points} points")
        self.create_database(database)
        try:
            self.run(["manage.py", "migrate", "--noinput", "-v", "0"], database=database)
            built = self.probe("routing_build", cells, rules, database=database)
            result = self.probe("routing", points, self.args.runs, database=database)
        finally:
            self.drop_database(database)
        self.raw["routing"] = {"built": built, **result}
        label = f"{points:,} points, {built['cells']:,} cells, {built['rules']:,} rules"
        r = ratio(result["product_us"], result["bare_us"])
        self.rows.append(
            Row(
                "routing: locate + route (µs/case) vs bare STRtree query",
                label,
                spread(result["product_us"]),
                spread(result["bare_us"]),
                r,
                "≤ 4×",
                verdict(r is not None and r <= 4),
            )
        )
        self.rows.append(
            Row(
                "routing: locate only (µs/case) vs bare STRtree query",
                label,
                spread(result["locate_us"]),
                spread(result["bare_us"]),
                ratio(result["locate_us"], result["bare_us"]),
                "(information)",
            )
        )

    def intake(self, size: int, database: str) -> None:
        """Throughput as deployed, then (for information) with a new database connection
        per request, each beside the bare insert view served by the same gunicorn."""
        prepared = self.probe("intake_prepare", database=database)
        deployed = os.environ.get("DATABASE_CONN_MAX_AGE")
        for connections, extra in (
            ("as deployed", {}),
            ("a new database connection per request", {"DATABASE_CONN_MAX_AGE": "0"}),
        ):
            if deployed == "0" and extra:
                continue  # the deployed setting already is the per-request one
            with self._gunicorn(database, **extra) as port:
                self._intake_load(
                    port, prepared, size, connections, informative=bool(extra), database=database
                )

    @contextmanager
    def _gunicorn(self, database: str, **extra):
        port = free_port()
        procfile = (ROOT / "Procfile").read_text().splitlines()
        web = next(line.split(":", 1)[1].strip() for line in procfile if line.startswith("web:"))
        log(f"intake: gunicorn as in the Procfile on 127.0.0.1:{port} {extra or ''}: {web}")
        server_log = open(WORK / "gunicorn.log", "w")  # noqa: SIM115
        server = subprocess.Popen(
            ["bash", "-c", web],
            cwd=ROOT,
            env=self.env(
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
            self.gunicorn_pid = server.pid  # the line execs gunicorn's master: same process
            yield port
        finally:
            server.terminate()
            try:
                server.wait(20)
            except subprocess.TimeoutExpired:
                server.kill()
            server_log.close()

    def _intake_load(
        self,
        port: int,
        prepared: dict,
        size: int,
        connections: str,
        informative: bool,
        database: str,
    ) -> None:
        from loadgen import login, post_load

        seconds, concurrency = self.args.intake_seconds, 16
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
            IntakeTarget(
                "web", "/cases/new/", web_form, headers, (302,), fresh=("idempotency_key",)
            ),
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
        written_before = self.probe("intake_counts", database=database)
        meters = {
            "gunicorn": ProcessTreeCpu(self.gunicorn_pid),
            "PostgreSQL": ProcessTreeCpu.of_postgres(f"{self.admin_url}/postgres"),
        }
        names = [target.name for target in targets]
        results = {name: [] for name in names}
        cpu = {name: {meter: [] for meter in meters} for name in names}
        statuses = {name: {} for name in names}
        for run in range(self.args.runs):
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
        written_after = self.probe("intake_counts", database=database)
        for target in targets:
            answered = sum(statuses[target.name].get(status, 0) for status in target.ok)
            written = written_after[target.name] - written_before[target.name]
            if written != answered:
                self.notes.append(
                    f"Intake ({connections}), {target.name}: {answered} successful answers "
                    f"but {written} rows written."
                )
        self.raw.setdefault("intake", {})[connections] = {
            "per_second": results,
            "statuses": statuses,
            "cpu_ms_per_request": cpu,
        }
        label = f"{concurrency} connections, {seconds:g} s, N={size:,}, {connections}"

        def cpu_row(name: str, title: str) -> None:
            if all(cpu[name][meter] for meter in meters):
                self.rows.append(
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
            self.rows.append(
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
            self.rows.append(
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
        self.rows.append(
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

    # -- all of it --------------------------------------------------------------------------

    def main(self) -> None:
        sections = (
            set(self.args.only.split(","))
            if self.args.only
            else {"sweep", "pages", "routing", "intake"}
        )
        started = time.perf_counter()
        previous = self.load_previous() if self.args.append else None
        if "routing" in sections:
            self.routing()
        for i, size in enumerate(self.args.sizes):
            if not sections & {"sweep", "pages", "intake"}:
                break
            database = self.seeded_database(size)
            try:
                if "sweep" in sections:
                    self.sweep(size, database)
                if "pages" in sections:
                    self.pages(size, database)
                if "intake" in sections and i == 0:
                    self.intake(size, database)
            finally:
                self.drop_database(database)
        self.raw["total_seconds"] = time.perf_counter() - started
        if previous:
            self.merge(previous)
        self.constancy()
        (WORK / "last_run.json").write_text(
            json.dumps(
                {
                    "rows": [row.__dict__ for row in self.rows],
                    "notes": self.notes,
                    "raw": self.raw,
                    "sizes": self.args.sizes,
                    "runs": self.args.runs,
                },
                default=str,
            )
        )
        table = self.table()
        print(table)
        (WORK / "results.json").write_text(json.dumps(self.raw, indent=1, default=str))
        if not self.args.no_write:
            (BENCH / "RESULTS.md").write_text(self.results_md(table))
            log(f"Wrote {BENCH / 'RESULTS.md'}")
            self.update_readme(table)

    def load_previous(self) -> dict | None:
        try:
            return json.loads((WORK / "last_run.json").read_text())
        except (OSError, ValueError):
            log("--append: no previous run in bench/.work/last_run.json; starting afresh")
            return None

    def merge(self, previous: dict) -> None:
        """Put this run's rows after the previous run's (`--append`: one table for sizes
        run at different times, e.g. the pages at N = 1,000,000 after the sweeps)."""
        self.rows = [Row(**row) for row in previous["rows"]] + self.rows
        self.notes = (
            previous["notes"]
            + [
                f"Sizes {', '.join(f'{n:,}' for n in self.args.sizes)} were run separately "
                f"(--append, sections: {self.args.only or 'all'}, {self.args.runs} run(s))."
            ]
            + self.notes
        )
        for key, value in previous["raw"].items():
            if isinstance(value, dict) and isinstance(self.raw.get(key), dict):
                self.raw[key] = {**value, **self.raw[key]}
            elif key == "total_seconds":
                self.raw[key] = self.raw.get(key, 0) + value
            else:
                self.raw.setdefault(key, value)
        self.args.sizes = [*previous["sizes"], *self.args.sizes]

    def constancy(self) -> None:
        """Statement and query counts must not grow with N: compare them across sizes."""
        statements = self.raw.get("sweep_statements", {})
        if statements:
            same = len(set(statements.values())) == 1
            text = ", ".join(f"N={n:,}: {c}" for n, c in statements.items())
            for row in self.rows:
                if row.figure.startswith("sweep: SQL statements vs SQL floor"):
                    row.verdict = (
                        ("ok: " if same else "GROWS: ") + text
                        if len(statements) > 1
                        else "one size only"
                    )
        pages = self.raw.get("pages", {})
        if len(pages) > 1:
            for row in self.rows:
                if not row.figure.startswith("page "):
                    continue
                url, role = row.figure[5:].split(" as ")
                counts = [result[f"{role} {url}"]["queries"] for result in pages.values()]
                if len(set(counts)) > 1:
                    row.verdict += f"; queries GROW: {counts}"

    def table(self) -> str:
        lines = [
            "| figure | N | product | reference | ratio | target | verdict |",
            "|---|---|---|---|---|---|---|",
        ]
        for row in self.rows:
            shown_ratio = "—" if row.ratio is None else f"{row.ratio:.2f}×"
            lines.append(
                f"| {row.figure} | {row.size} | {row.product} | {row.reference} | "
                f"{shown_ratio} | {row.target} | {row.verdict} |"
            )
        return "\n".join(lines)

    def update_readme(self, table: str) -> None:
        """Show the latest table in the README, between its bench markers."""
        readme = ROOT / "README.md"
        if not readme.exists():
            return
        text = readme.read_text()
        start, end = text.find(README_START), text.find(README_END)
        if start < 0 or end < start:
            return
        sizes = ", ".join(f"{n:,}" for n in self.args.sizes)
        block = (
            f"{README_START}\nLatest run ({machine_info(self)['date']}, N = {sizes}; machine and "
            f"notes in [bench/RESULTS.md](bench/RESULTS.md)):\n\n{table}\n"
        )
        readme.write_text(text[:start] + block + text[end:])
        log("Updated the table in README.md")

    def results_md(self, table: str) -> str:
        machine = machine_info(self)
        sizes = ", ".join(f"{n:,}" for n in self.args.sizes)
        notes = "\n".join(f"- {note}" for note in self.notes) or "- none"
        return f"""# Benchmark results

Generated by `make bench` (bench/run.py) on {machine["date"]}; rerun it to regenerate this
file. Each figure is the median of {self.args.runs} runs with the range (min–max) in
brackets, beside a reference measured in the same run; the ratio is product ÷ reference
(for throughput, product ÷ reference too, so higher is better there).

**Sizes run this time: N = {sizes}** (`BENCH_SIZES`). Routing: {self.args.points:,} points
over {self.args.routing_cells:,} cells and {self.args.routing_rules:,} rules. Intake:
{self.args.intake_seconds:g} s per run, 16 connections, on the first size's database.
django-helpdesk: at most {self.args.peer_max_due or "all"} due tickets per run
(`BENCH_PEER_MAX_DUE`; 0 = the same number as the product's due cases); its time is
compared per escalated case.

## Machine

- {machine["uname"]}
- CPU: {machine["cpu"]} ({machine["cores"]} cores), memory {machine["memory"]}
- {machine["postgres"]}
- Python {platform.python_version()}, commit {machine["commit"]}
- total bench time: {self.raw.get("total_seconds", 0) / 60:.1f} min

## Table

{table}

## What each reference is

- **SQL floor**: one hand-written `INSERT … SELECT … CROSS JOIN LATERAL (VALUES …) ON
  CONFLICT DO NOTHING` that selects the same due rungs (reminders and levels 1–3) with the
  same conditions and inserts their escalation rows, in the same database.
- **django-helpdesk**: `manage.py escalate_tickets` from the latest django-helpdesk on
  PyPI, in its own virtual environment and database, over tickets of which the same
  number are due (emails rendered, delivered to Django's dummy backend).
- **bare STRtree query**: `STRtree.query(Point, predicate="intersects")` per point over
  the same cells, built by shapely directly.
- **bare insert view**: a Django view (bench/urls.py only, never in production) that
  inserts one row with one statement, served by the same gunicorn. Intake runs twice:
  as deployed (`DATABASE_CONN_MAX_AGE`, persistent connections by default) and, for
  information, with a new database connection per request. Its CPU rows split the CPU
  time of a request between the gunicorn workers and PostgreSQL (every server process,
  background writers included), read from /proc during the same runs.
- **signed-in ORM insert**: the least a signed-in report does, in the same gunicorn: a
  CSRF-checked POST whose view inserts a case and its two audit rows through the ORM in
  one transaction (no form, routing, deadlines or case-number counter).
- **bare page**: a signed-in Django view that returns the username, in the same process.

Page times are measured in-process with Django's test client (full middleware, session,
templates; no network); the query count is of one request.

## Notes from this run

{notes}
"""


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def refused(status: int) -> str:
    """A page the role may not open (the dashboard is for supervisors, the pool not for
    liaisons, the admin for liaisons and supervisors): its refusal is timed, but it is no
    miss."""
    if status in (302, 403):
        return f"not for this role (HTTP {status})"
    return f"HTTP {status}"


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


def machine_info(bench: Bench) -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "unknown"
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{kb / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "uname": " ".join(platform.uname()),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": memory,
        "postgres": bench.sql_value("SELECT version()").split(" on ")[0],
        "commit": commit or "unknown",
    }


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    env = os.environ.get
    parser.add_argument(
        "--sizes",
        default=env("BENCH_SIZES") or "100000,1000000",
        type=lambda raw: [int(s.replace("_", "")) for s in raw.split(",") if s.strip()],
        help="numbers of seeded cases, comma-separated (BENCH_SIZES)",
    )
    parser.add_argument("--runs", type=int, default=int(env("BENCH_RUNS") or 3))
    parser.add_argument(
        "--peer-max-due", type=int, default=int(env("BENCH_PEER_MAX_DUE") or 15_000)
    )
    parser.add_argument("--no-peer", dest="peer", action="store_false")
    parser.add_argument(
        "--slow-seconds",
        type=float,
        default=float(env("BENCH_SLOW_SECONDS") or 180),
        help="a sweep slower than this is run once, not BENCH_RUNS times",
    )
    parser.add_argument("--points", type=int, default=int(env("BENCH_ROUTING_POINTS") or 100000))
    parser.add_argument("--routing-cells", type=int, default=10000)
    parser.add_argument("--routing-rules", type=int, default=5000)
    parser.add_argument(
        "--intake-seconds", type=float, default=float(env("BENCH_INTAKE_SECONDS") or 15)
    )
    parser.add_argument(
        "--only", default=env("BENCH_ONLY") or "", help="sections: sweep,pages,routing,intake"
    )
    parser.add_argument(
        "--postgres", default=env("BENCH_POSTGRES") or "postgres://postgres@127.0.0.1:5432"
    )
    parser.add_argument("--keep", action="store_true", help="keep the gov_bench_* databases")
    parser.add_argument("--no-write", action="store_true", help="do not rewrite RESULTS.md")
    parser.add_argument(
        "--append",
        action="store_true",
        help="add this run's rows to the previous run's table (bench/.work/last_run.json)",
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.path.insert(0, str(BENCH))
    Bench(parse_args()).main()
