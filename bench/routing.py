"""The routing section: locating and routing points on a synthetic district of its own
(bench/routing_probes.py), against shapely's bare STRtree query over the same cells.
"""

from __future__ import annotations

from bench.harness import Bench, log
from bench.report import Row, ratio, spread, verdict


def routing(bench: Bench) -> None:
    database = "gov_bench_routing"
    cells, rules, points = bench.args.routing_cells, bench.args.routing_rules, bench.args.points
    log(f"routing: {cells} cells, {rules} rules, {points} points")
    bench.create_database(database)
    try:
        bench.run(["manage.py", "migrate", "--noinput", "-v", "0"], database=database)
        built = bench.probe("routing_build", cells, rules, database=database)
        result = bench.probe("routing", points, bench.args.runs, database=database)
    finally:
        bench.drop_database(database)
    bench.raw["routing"] = {"built": built, **result}
    label = f"{points:,} points, {built['cells']:,} cells, {built['rules']:,} rules"
    r = ratio(result["product_us"], result["bare_us"])
    bench.rows.append(
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
    bench.rows.append(
        Row(
            "routing: locate only (µs/case) vs bare STRtree query",
            label,
            spread(result["locate_us"]),
            spread(result["bare_us"]),
            ratio(result["locate_us"], result["bare_us"]),
            "(information)",
        )
    )
