"""The holiday section: a day off added at short notice in the admin moves every running
clock across it (bench/holiday_probes.py), within the admin's request when they are few,
else in the worker after it, against the floor of writing the same rows with one
hand-written UPDATE; and the admin's request itself, which the web server gives 30 s
(gunicorn's timeout). For information: the issue sets no target for either.
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
        log(
            f"N={size}: holiday {run + 1}/{bench.args.runs}: request "
            f"{product[-1]['request']:.2f} s, deadlines moved in {product[-1]['seconds']:.2f} s"
        )
    bench.raw.setdefault("holiday", {})[size] = {"floor": floor, "product": product}
    moved, rows = product[0]["moved"], floor[0]["rows"]
    if moved > rows:
        bench.notes.append(
            f"N={size}: the holiday moved {moved} cases, more than the floor's {rows} rows."
        )
    p_s, f_s = [r["seconds"] for r in product], [r["seconds"] for r in floor]
    requests = [r["request"] for r in product]
    where = "after the request, in the worker" if product[0]["later"] else "within the request"
    bench.rows.append(
        Row(
            f"holiday added at short notice: moving the running deadlines ({where}), "
            "wall time (s) vs one UPDATE of the same rows",
            f"{size:,} ({moved:,} clocks moved of {rows:,} running across the day)",
            spread(p_s),
            spread(f_s),
            ratio(p_s, f_s),
            "(information)",
        )
    )
    bench.rows.append(
        Row(
            "holiday added at short notice: the admin's request, wall time (s)",
            f"{size:,}",
            spread(requests),
            "—",
            None,
            f"< {WEB_TIMEOUT_SECONDS} s (gunicorn's timeout)",
            "ok" if max(requests) < WEB_TIMEOUT_SECONDS else "over the web timeout",
        )
    )
