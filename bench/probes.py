"""The product side of each measurement, one process per call, printing one JSON line:

    python bench/probes.py ACTION [ARGS…]     (DATABASE_URL names a gov_bench_* database)

bench/run.py starts these; each runs in a fresh process so that its peak memory and its
statement count are its own. Every action is small and says what it measured.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

import django  # noqa: E402

django.setup()

from django.utils import timezone  # noqa: E402

from bench.holiday_probes import holiday, holiday_floor  # noqa: E402
from bench.intake_probes import intake_counts, intake_prepare  # noqa: E402
from bench.pages_probes import pages  # noqa: E402
from bench.routing_probes import routing, routing_build  # noqa: E402
from bench.sweep_probes import floor, sweep, sweep_counts, sweep_reset  # noqa: E402

ACTIONS = {
    "sweep_reset": sweep_reset,
    "sweep_counts": sweep_counts,
    "sweep": sweep,
    "floor": floor,
    "routing_build": lambda cells, rules: routing_build(int(cells), int(rules)),
    "routing": lambda points, runs: routing(int(points), int(runs)),
    "intake_prepare": intake_prepare,
    "intake_counts": intake_counts,
    "pages": lambda runs: pages(int(runs)),
    "holiday": holiday,
    "holiday_floor": holiday_floor,
}

if __name__ == "__main__":
    action, *args = sys.argv[1:]
    timezone.activate(timezone.get_default_timezone())
    print(json.dumps(ACTIONS[action](*args)))
