"""`make bench`: the product's speed and cost, each figure beside a reference measured in
the same run (absolute times drift on a shared machine; ratios hold).

    make bench                                   # N = 100,000 and 1,000,000, as the issue asks
    make bench BENCH_SIZES=10000 BENCH_RUNS=1    # a quick look

For each size N it creates its own PostgreSQL database `gov_bench_<N>` (dropped at the
end), migrates it, runs `seed_demo --cases N`, and measures the escalation sweep (against
one hand-written SQL statement and against django-helpdesk's `escalate_tickets`, which it
installs into a throwaway virtual environment under bench/.work/) and the pages (against a
bare signed-in page) and a holiday added at short notice (against one UPDATE of the same
rows). Routing runs on a synthetic district of its own; intake runs against
gunicorn started as in the Procfile, with a bare insert view as the reference. It prints
one table and writes it, with the machine and the date, to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

# The bench's modules are the `bench` package, as for bench/probes.py.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import BENCH, WORK, Bench, log  # noqa: E402
from bench.holidays import holidays  # noqa: E402
from bench.intake import intake  # noqa: E402
from bench.pages import pages  # noqa: E402
from bench.report import (  # noqa: E402
    Row,
    constancy,
    load_previous,
    merge,
    results_md,
    table,
    update_readme,
)
from bench.routing import routing  # noqa: E402
from bench.sweep import sweep  # noqa: E402


def main(bench: Bench) -> None:
    sections = (
        set(bench.args.only.split(","))
        if bench.args.only
        else {"sweep", "pages", "holidays", "routing", "intake"}
    )
    started = time.perf_counter()
    previous = load_previous() if bench.args.append else None
    if "routing" in sections:
        routing(bench)
    for i, size in enumerate(bench.args.sizes):
        if not sections & {"sweep", "pages", "holidays", "intake"}:
            break
        database = seeded_database(bench, size)
        try:
            if "sweep" in sections:
                sweep(bench, size, database)
            if "pages" in sections:
                pages(bench, size, database)
            if "holidays" in sections:
                holidays(bench, size, database)
            if "intake" in sections and i == 0:
                intake(bench, size, database)
        finally:
            bench.drop_database(database)
    bench.raw["total_seconds"] = time.perf_counter() - started
    if previous:
        merge(bench, previous)
    constancy(bench)
    (WORK / "last_run.json").write_text(
        json.dumps(
            {
                "rows": [row.__dict__ for row in bench.rows],
                "notes": bench.notes,
                "raw": bench.raw,
                "sizes": bench.args.sizes,
                "runs": bench.args.runs,
            },
            default=str,
        )
    )
    shown = table(bench)
    print(shown)
    (WORK / "results.json").write_text(json.dumps(bench.raw, indent=1, default=str))
    if not bench.args.no_write:
        (BENCH / "RESULTS.md").write_text(results_md(bench, shown))
        log(f"Wrote {BENCH / 'RESULTS.md'}")
        update_readme(bench, shown)


def seeded_database(bench: Bench, size: int) -> str:
    """A new database `gov_bench_<size>`, migrated, seeded with `size` cases (timed, as a row
    for information) and analysed."""
    database = f"gov_bench_{size}"
    log(f"N={size}: creating {database}, migrating, seeding")
    bench.create_database(database)
    bench.run(["manage.py", "migrate", "--noinput", "-v", "0"], database=database)
    started = time.perf_counter()
    bench.run(["manage.py", "seed_demo", "--cases", size, "--seed", "7"], database=database)
    seconds = time.perf_counter() - started
    bench.raw.setdefault("seed_seconds", {})[size] = seconds
    bench.rows.append(
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
    bench.sql("VACUUM ANALYZE", database)
    return database


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
        "--only",
        default=env("BENCH_ONLY") or "",
        help="sections: sweep,pages,holidays,routing,intake",
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
    main(Bench(parse_args()))
