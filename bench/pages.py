"""The pages section: each list page, the pool, the dashboard and the admin's changelist
for each role (bench/pages_probes.py), beside a bare signed-in page in the same process.
"""

from __future__ import annotations

from bench.harness import Bench, log
from bench.report import Row, ratio, refused, spread, verdict


def pages(bench: Bench, size: int, database: str) -> None:
    log(f"N={size}: pages")
    result = bench.probe("pages", bench.args.runs, database=database)
    bench.raw.setdefault("pages", {})[size] = result
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
        bench.rows.append(
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
