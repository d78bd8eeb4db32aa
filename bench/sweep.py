"""The sweep section: the product's escalation sweep over a seeded database, against one
hand-written SQL statement (the floor) and, per escalated case, against django-helpdesk's
`escalate_tickets` run in a throwaway virtual environment under bench/.work/ (bench/peer/).
A run slower than BENCH_SLOW_SECONDS is not repeated.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
from datetime import UTC, datetime

from bench.harness import BENCH, WORK, Bench, log
from bench.report import Row, ratio, spread, verdict

PEER_VENV = WORK / "helpdesk-venv"
PEER_PYTHON = PEER_VENV / "bin" / "python"
PEER_PACKAGES = ["django-helpdesk", "psycopg2-binary"]


def sweep(bench: Bench, size: int, database: str) -> None:
    runs = bench.args.runs
    now = datetime.now(UTC).replace(microsecond=0).isoformat()
    counts = bench.probe("sweep_counts", now, database=database)
    log(f"N={size}: sweep over {counts}")
    floor, product = [], []
    for _run in range(runs):
        bench.probe("sweep_reset", database=database)
        floor.append(bench.probe("floor", now, database=database))
    for run in range(runs):
        bench.probe("sweep_reset", database=database)
        product.append(bench.probe("sweep", now, database=database))
        bench.flush_redis()
        log(f"N={size}: product sweep {run + 1}/{runs}: {product[-1]['seconds']:.2f} s")
        if stop_after_slow_run(bench, size, "the product sweep", product[-1]["seconds"], run):
            break
    bench.probe("sweep_reset", database=database)
    bench.raw.setdefault("sweep", {})[size] = {
        "counts": counts,
        "floor": floor,
        "product": product,
    }
    escalated = product[0]["cases"]
    rows_written = product[0]["rows"]
    if floor[0]["rows"] != rows_written:
        bench.notes.append(
            f"N={size}: the floor inserted {floor[0]['rows']} escalation rows, the product "
            f"{rows_written}: they do not select the same rows."
        )
    label = f"{size:,} ({counts['open']:,} open, {escalated:,} due)"
    p_s = [r["seconds"] for r in product]
    f_s = [r["seconds"] for r in floor]
    r = ratio(p_s, f_s)
    bench.rows.append(
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
    bench.rows.append(
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
    bench.raw.setdefault("sweep_statements", {})[size] = statements[0]
    bench.rows.append(
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
    bench.rows.append(
        Row(
            "sweep: peak memory growth (MB) of the sweeping process",
            label,
            spread(memory),
            spread([r["rss_growth_mb"] for r in floor]) + " (floor's client)",
            None,
            "(information)",
        )
    )
    bench.rows.append(
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
    if bench.args.peer:
        peer(bench, size, escalated, label, per_case, memory, statements)


def peer_venv(bench: Bench) -> bool:
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
        bench.notes.append(
            "django-helpdesk could not be installed, so there is no peer figure: "
            + installed.stderr.strip().splitlines()[-1]
        )
        return False
    return True


def stop_after_slow_run(bench: Bench, size: int, what: str, seconds: float, run: int) -> bool:
    """Whether to stop repeating a run this slow; when so, adds a note saying why."""
    if seconds <= bench.args.slow_seconds or run + 1 >= bench.args.runs:
        return False
    bench.notes.append(
        f"N={size}: {what} took {seconds:.0f} s, more than {bench.args.slow_seconds:g} s "
        f"(BENCH_SLOW_SECONDS), so it ran {run + 1} time(s) instead of {bench.args.runs}."
    )
    return True


def peer(bench: Bench, size, escalated, label, per_case, memory, statements) -> None:
    if not peer_venv(bench):
        return
    cap = bench.args.peer_max_due
    due = escalated if cap <= 0 else min(escalated, cap)
    tickets = size if due == escalated else max(due * 10, 1)
    database = f"gov_bench_peer_{size}"
    bench.create_database(database)
    try:
        peer_probe = BENCH / "peer" / "probe.py"
        log(f"N={size}: django-helpdesk with {tickets} tickets, {due} due")
        bench.probe("setup", tickets, due, database=database, python=PEER_PYTHON, script=peer_probe)
        results = []
        for run in range(bench.args.runs):
            bench.probe("reset", database=database, python=PEER_PYTHON, script=peer_probe)
            results.append(
                bench.probe("sweep", database=database, python=PEER_PYTHON, script=peer_probe)
            )
            log(f"N={size}: escalate_tickets {run + 1}: {results[-1]['seconds']:.2f} s")
            what = "django-helpdesk's escalate_tickets"
            if stop_after_slow_run(bench, size, what, results[-1]["seconds"], run):
                break
    finally:
        bench.drop_database(database)
    bench.raw.setdefault("peer", {})[size] = {"tickets": tickets, "due": due, "runs": results}
    peer_ms = [r["seconds"] / max(r["escalated"], 1) * 1000 for r in results]
    where = f"{due:,} due of {tickets:,} tickets" + (
        "" if due == escalated else f" (capped: BENCH_PEER_MAX_DUE={cap})"
    )
    bench.rows.append(
        Row(
            "sweep: time per escalated case (ms) vs django-helpdesk escalate_tickets",
            label,
            spread(per_case),
            f"{spread(peer_ms)} [{where}]",
            ratio(per_case, peer_ms),
            "(information)",
        )
    )
    bench.rows.append(
        Row(
            "sweep: SQL statements vs django-helpdesk",
            label,
            spread(statements, "{:.0f}"),
            f"{spread([r['statements'] for r in results], '{:.0f}')} [{where}]",
            ratio(statements, [r["statements"] for r in results]),
            "(information)",
        )
    )
    bench.rows.append(
        Row(
            "sweep: peak memory growth (MB) vs django-helpdesk",
            label,
            spread(memory),
            f"{spread([r['rss_growth_mb'] for r in results])} [{where}]",
            ratio(memory, [r["rss_growth_mb"] for r in results]),
            "(information)",
        )
    )
