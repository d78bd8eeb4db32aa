"""The holiday section: a day off added at short notice in the admin moves every running
clock across it, inside the admin's request (bench/holiday_probes.py), against the floor
of writing the same rows with one hand-written UPDATE. For information: no target, but
the web server gives a request 30 s (gunicorn's timeout).
"""

from __future__ import annotations

from bench.harness import Bench, log
from bench.report import Row, ratio, spread

WEB_TIMEOUT_SECONDS = 30


def holidays(bench: Bench, size: int, database: str) -> None:
    floor, product = [], []
    for run in range(bench.args.runs):
        floor.append(bench.probe("holiday_floor", database=database))
        product.append(bench.probe("holiday", database=database))
        log(f"N={size}: holiday {run + 1}/{bench.args.runs}: {product[-1]['seconds']:.2f} s")
    bench.raw.setdefault("holiday", {})[size] = {"floor": floor, "product": product}
    moved, rows = product[0]["moved"], floor[0]["rows"]
    if moved > rows:
        bench.notes.append(
            f"N={size}: the holiday moved {moved} cases, more than the floor's {rows} rows."
        )
    p_s, f_s = [r["seconds"] for r in product], [r["seconds"] for r in floor]
    slowest = max(p_s)
    bench.rows.append(
        Row(
            "holiday added at short notice: wall time (s) vs one UPDATE of the same rows",
            f"{size:,} ({moved:,} clocks moved of {rows:,} running across the day)",
            spread(p_s),
            spread(f_s),
            ratio(p_s, f_s),
            f"(information; a request has {WEB_TIMEOUT_SECONDS} s)",
            "ok" if slowest < WEB_TIMEOUT_SECONDS else "over the web timeout",
        )
    )
