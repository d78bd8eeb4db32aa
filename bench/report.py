"""The report of a run: its rows (figure, product, reference, ratio, target, verdict),
how values are shown, the check that counts stay constant in N, and where the table goes:
stdout, bench/RESULTS.md (with the machine and the date) and the README's bench block.
`--append` puts a run's rows after the previous run's (bench/.work/last_run.json).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.harness import ROOT, WORK, Bench, log

README_START = "<!-- bench:table -->"
README_END = "<!-- /bench:table -->"


@dataclass
class Row:
    figure: str
    size: str
    product: str
    reference: str
    ratio: float | None
    target: str
    verdict: str = ""


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


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def refused(status: int) -> str:
    """A page the role may not open (the dashboard is for supervisors, the pool not for
    liaisons, the admin for liaisons and supervisors): its refusal is timed, but it is no
    miss."""
    if status in (302, 403):
        return f"not for this role (HTTP {status})"
    return f"HTTP {status}"


def load_previous() -> dict | None:
    try:
        return json.loads((WORK / "last_run.json").read_text())
    except (OSError, ValueError):
        log("--append: no previous run in bench/.work/last_run.json; starting afresh")
        return None


def merge(bench: Bench, previous: dict) -> None:
    """Put this run's rows after the previous run's (`--append`: one table for sizes
    run at different times, e.g. the pages at N = 1,000,000 after the sweeps)."""
    bench.rows = [Row(**row) for row in previous["rows"]] + bench.rows
    bench.notes = (
        previous["notes"]
        + [
            f"Sizes {', '.join(f'{n:,}' for n in bench.args.sizes)} were run separately "
            f"(--append, sections: {bench.args.only or 'all'}, {bench.args.runs} run(s))."
        ]
        + bench.notes
    )
    for key, value in previous["raw"].items():
        if isinstance(value, dict):
            # JSON gave the sizes keying these back as strings: numbers again, so that they
            # format as numbers and a size run again replaces its old figures.
            value = {int(k) if k.isdigit() else k: v for k, v in value.items()}
        if isinstance(value, dict) and isinstance(bench.raw.get(key), dict):
            bench.raw[key] = {**value, **bench.raw[key]}
        elif key == "total_seconds":
            bench.raw[key] = bench.raw.get(key, 0) + value
        else:
            bench.raw.setdefault(key, value)
    bench.args.sizes = [*previous["sizes"], *bench.args.sizes]


def constancy(bench: Bench) -> None:
    """Statement and query counts must not grow with N: compare them across sizes."""
    statements = bench.raw.get("sweep_statements", {})
    if statements:
        same = len(set(statements.values())) == 1
        text = ", ".join(f"N={n:,}: {c}" for n, c in statements.items())
        for row in bench.rows:
            if row.figure.startswith("sweep: SQL statements vs SQL floor"):
                row.verdict = (
                    ("ok: " if same else "GROWS: ") + text
                    if len(statements) > 1
                    else "one size only"
                )
    pages = bench.raw.get("pages", {})
    if len(pages) > 1:
        for row in bench.rows:
            if not row.figure.startswith("page "):
                continue
            url, role = row.figure[5:].split(" as ")
            counts = [result[f"{role} {url}"]["queries"] for result in pages.values()]
            if len(set(counts)) > 1:
                row.verdict += f"; queries GROW: {counts}"


def table(bench: Bench) -> str:
    lines = [
        "| figure | N | product | reference | ratio | target | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in bench.rows:
        shown_ratio = "—" if row.ratio is None else f"{row.ratio:.2f}×"
        lines.append(
            f"| {row.figure} | {row.size} | {row.product} | {row.reference} | "
            f"{shown_ratio} | {row.target} | {row.verdict} |"
        )
    return "\n".join(lines)


def update_readme(bench: Bench, table: str) -> None:
    """Show the latest table in the README, between its bench markers."""
    readme = ROOT / "README.md"
    if not readme.exists():
        return
    text = readme.read_text()
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        return
    sizes = ", ".join(f"{n:,}" for n in bench.args.sizes)
    block = (
        f"{README_START}\nLatest run ({machine_info(bench)['date']}, N = {sizes}; machine and "
        f"notes in [bench/RESULTS.md](bench/RESULTS.md)):\n\n{table}\n"
    )
    readme.write_text(text[:start] + block + text[end:])
    log("Updated the table in README.md")


def results_md(bench: Bench, table: str) -> str:
    machine = machine_info(bench)
    sizes = ", ".join(f"{n:,}" for n in bench.args.sizes)
    notes = "\n".join(f"- {note}" for note in bench.notes) or "- none"
    return f"""# Benchmark results

Generated by `make bench` (bench/run.py) on {machine["date"]}; rerun it to regenerate this
file. Each figure is the median of {bench.args.runs} runs with the range (min–max) in
brackets, beside a reference measured in the same run; the ratio is product ÷ reference
(for throughput, product ÷ reference too, so higher is better there).

**Sizes run this time: N = {sizes}** (`BENCH_SIZES`). Routing: {bench.args.points:,} points
over {bench.args.routing_cells:,} cells and {bench.args.routing_rules:,} rules. Intake:
{bench.args.intake_seconds:g} s per run, 16 connections, on the first size's database.
django-helpdesk: at most {bench.args.peer_max_due or "all"} due tickets per run
(`BENCH_PEER_MAX_DUE`; 0 = the same number as the product's due cases); its time is
compared per escalated case.

## Machine

- {machine["uname"]}
- CPU: {machine["cpu"]} ({machine["cores"]} cores), memory {machine["memory"]}
- {machine["postgres"]}
- Python {platform.python_version()}, commit {machine["commit"]}
- total bench time: {bench.raw.get("total_seconds", 0) / 60:.1f} min

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
