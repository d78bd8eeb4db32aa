"""The product side of each measurement, one process per call, printing one JSON line:

    python bench/probes.py ACTION [ARGS…]     (DATABASE_URL names a gov_bench_* database)

bench/run.py starts these; each runs in a fresh process so that its peak memory and its
statement count are its own. Every action is small and says what it measured.
"""

from __future__ import annotations

import json
import os
import random
import resource
import statistics
import sys
import time
from datetime import date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

BARE_TABLE = "bench_bare_insert"


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class StatementCounter:
    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


# -- the sweep --------------------------------------------------------------------------------


def sweep_reset() -> dict:
    """Undo every sweep: escalations, their emails and audit rows, case levels, sweep runs."""
    from cases.models import Case, CaseEvent, Escalation, OutboxMessage, SweepRun

    q = connection.ops.quote_name
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {q(OutboxMessage._meta.db_table)}")
        cursor.execute(
            f"DELETE FROM {q(CaseEvent._meta.db_table)} WHERE action IN ('escalate', 'remind')"
        )
        cursor.execute(f"DELETE FROM {q(Escalation._meta.db_table)}")
        cursor.execute(f"DELETE FROM {q(SweepRun._meta.db_table)}")
        cursor.execute(
            f"UPDATE {q(Case._meta.db_table)} SET escalation_level = 0 WHERE escalation_level <> 0"
        )
    with connection.cursor() as cursor:  # autocommit: VACUUM cannot run in a transaction
        for model in (OutboxMessage, CaseEvent, Escalation, Case):
            cursor.execute(f"VACUUM ANALYZE {q(model._meta.db_table)}")
    return {"reset": True}


def sweep_counts(now_iso: str) -> dict:
    from cases.models import CLOCK_STATES, Case

    now = datetime.fromisoformat(now_iso)
    return {
        "cases": Case.objects.count(),
        "open": Case.objects.open().count(),
        "clock_running": Case.objects.filter(state__in=CLOCK_STATES).count(),
        "overdue": Case.objects.overdue(now).count(),
    }


def sweep(now_iso: str) -> dict:
    """One product sweep (`escalation_sweep`, what the Celery task and escalate_overdue run)."""
    from cases.models import Escalation
    from cases.services.escalation import escalation_sweep
    from cases.services.outbox.publishing import publish_sweep

    now = datetime.fromisoformat(now_iso)
    connection.ensure_connection()
    _warm_broker()
    rss_before = _rss_mb()
    counter = StatementCounter()
    with connection.execute_wrapper(counter):
        started = time.perf_counter()
        result = escalation_sweep(now=now)
        seconds = time.perf_counter() - started
    rss_after = _rss_mb()
    # What the worker does next (`queue_sweep_messages`): queue the deliveries in batches.
    started = time.perf_counter()
    queued = publish_sweep(result.sweep_id)
    queue_seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "statements": counter.count,
        "rows": Escalation.objects.count(),
        "cases": Escalation.objects.values("case_id").distinct().count(),
        "messages": result.messages,
        "peak_rss_mb": rss_after,
        "rss_growth_mb": rss_after - rss_before,
        "queue_seconds": queue_seconds,
        "queued": queued,
        "queue_rss_growth_mb": _rss_mb() - rss_after,
    }


def _warm_broker() -> None:
    """Load and connect the broker's client, as the worker that runs the sweep already has:
    its first use in a fresh process costs a tenth of a second of imports."""
    from celery import current_app

    with current_app.producer_or_acquire() as producer:
        producer.connection.ensure_connection(max_retries=1)


FLOOR_SQL = """
INSERT INTO {esc} (case_id, deadline_seq, deadline_kind, level, due_at, deadline_at,
                   created_at, sweep_id, department_id, township_id,
                   acknowledged_at, acknowledged_by_email)
SELECT c.id, c.deadline_seq, c.deadline_kind, r.level, r.at, c.due_at,
       %(now)s, %(sweep)s, c.lead_department_id, c.township_id, NULL, ''
FROM {case} c
CROSS JOIN LATERAL (VALUES (0, c.remind_at), (1, c.due_at),
                           (2, c.escalate_2_at), (3, c.escalate_3_at)) AS r(level, at)
WHERE c.state IN ('fallback', 'assigned', 'in_progress')
  AND c.due_at IS NOT NULL AND r.at <= %(now)s AND (r.level > 0 OR c.due_at > %(now)s)
ON CONFLICT (case_id, deadline_seq, level) DO NOTHING
"""


def floor(now_iso: str) -> dict:
    """The floor: one hand-written statement selecting the same due rows (every rung,
    reminders included) and inserting their escalation rows."""
    import uuid

    from cases.models import Case, Escalation

    q = connection.ops.quote_name
    sql = FLOOR_SQL.format(esc=q(Escalation._meta.db_table), case=q(Case._meta.db_table))
    now = datetime.fromisoformat(now_iso)
    connection.ensure_connection()
    rss_before = _rss_mb()
    with connection.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute(sql, {"now": now, "sweep": str(uuid.uuid4())})
        seconds = time.perf_counter() - started
        rows = cursor.rowcount
    return {
        "seconds": seconds,
        "statements": 1,
        "rows": rows,
        "cases": Escalation.objects.values("case_id").distinct().count(),
        "peak_rss_mb": _rss_mb(),
        "rss_growth_mb": _rss_mb() - rss_before,
    }


# -- routing ----------------------------------------------------------------------------------

ROUTING_BOX = (120.0, 30.0)  # south-west corner of the synthetic grid
ROUTING_STEP = 0.01


def routing_build(cells: int, rules: int, seed: int = 7) -> dict:
    """A synthetic district: `cells` square cells on a square grid (100 townships),
    a category tree (60 parents × 5 leaves), 40 departments and `rules` responsibility
    lines at every scope (everywhere, township, cell; lead and assist)."""
    from decimal import Decimal

    from departments.models import (
        Category,
        Department,
        GridCell,
        Responsibility,
        RoutingStamp,
        Township,
    )

    rng = random.Random(seed)
    side = int(cells**0.5)
    x0, y0 = ROUTING_BOX
    with transaction.atomic():
        townships = Township.objects.bulk_create(
            Township(code=f"T{t:03d}", name=f"Township {t}") for t in range(100)
        )
        grid = []
        for i in range(cells):
            row, col = divmod(i, side)
            west, south = x0 + col * ROUTING_STEP, y0 + row * ROUTING_STEP
            east, north = west + ROUTING_STEP, south + ROUTING_STEP
            ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
            grid.append(
                GridCell(
                    code=f"C{i:05d}",
                    name=f"Cell {i}",
                    township=townships[(row // 10 * 10 + col // 10) % len(townships)],
                    boundary={"type": "Polygon", "coordinates": [ring]},
                    min_lng=west,
                    min_lat=south,
                    max_lng=east,
                    max_lat=north,
                )
            )
        grid = GridCell.objects.bulk_create(grid, batch_size=2000)
        departments = Department.objects.bulk_create(
            Department(code=f"D{d:02d}", name=f"Department {d}") for d in range(40)
        )
        parents = Category.objects.bulk_create(
            Category(code=f"P{p:02d}", name=f"Parent {p}", accept_hours=8, resolve_days=5)
            for p in range(60)
        )
        leaves = Category.objects.bulk_create(
            Category(
                code=f"P{p:02d}-{k}",
                name=f"Leaf {p}.{k}",
                parent=parent,
                accept_hours=Decimal(4),
                resolve_days=Decimal(3),
            )
            for p, parent in enumerate(parents)
            for k in range(5)
        )
        categories = parents + leaves
        keys, lines = set(), []
        while len(lines) < rules:
            category = rng.choice(categories)
            department = rng.choice(departments)
            scope = rng.random()
            township = rng.choice(townships) if 0.15 <= scope < 0.45 else None
            cell = rng.choice(grid) if scope >= 0.45 else None
            role = "assist" if rng.random() < 0.1 else "lead"
            key = (category.pk, department.pk, township and township.pk, cell and cell.pk, role)
            if key in keys:
                continue
            keys.add(key)
            lines.append(
                Responsibility(
                    category=category,
                    department=department,
                    township=township,
                    cell=cell,
                    role=role,
                    basis="bench",
                )
            )
        Responsibility.objects.bulk_create(lines, batch_size=2000)
        RoutingStamp.bump()
    return {"cells": GridCell.objects.count(), "rules": Responsibility.objects.count()}


def routing(points: int, runs: int, seed: int = 11) -> dict:
    """µs per case: the product's RoutingIndex locating and routing each point (as
    `case_report` does), against shapely's bare STRtree query on the same points."""
    import shapely
    from shapely.geometry import Point
    from shapely.strtree import STRtree

    from departments.models import Category, GridCell
    from departments.routing import get_index

    index = get_index()
    rng = random.Random(seed)
    side = int(GridCell.objects.count() ** 0.5)
    x0, y0 = ROUTING_BOX
    span = side * ROUTING_STEP
    lngs = [x0 + rng.uniform(-0.01, span + 0.01) for _ in range(points)]
    lats = [y0 + rng.uniform(-0.01, span + 0.01) for _ in range(points)]
    leaf_ids = list(Category.objects.filter(parent__isnull=False).values_list("pk", flat=True))
    categories = [rng.choice(leaf_ids) for _ in range(points)]
    bare_tree = STRtree(
        [
            shapely.box(w, s, e, n)
            for w, s, e, n in GridCell.objects.order_by("code").values_list(
                "min_lng", "min_lat", "max_lng", "max_lat"
            )
        ]
    )
    today = date.today()
    product, locate_only, bare = [], [], []
    for _run in range(runs):
        started = time.perf_counter()
        for lng, lat in zip(lngs, lats, strict=True):
            bare_tree.query(Point(lng, lat), predicate="intersects")
        bare.append((time.perf_counter() - started) / points * 1e6)
        started = time.perf_counter()
        for lng, lat in zip(lngs, lats, strict=True):
            index.locate(lng, lat)
        locate_only.append((time.perf_counter() - started) / points * 1e6)
        started = time.perf_counter()
        assigned = 0
        for lng, lat, category_id in zip(lngs, lats, categories, strict=True):
            cell_id = index.locate(lng, lat)
            decision = index.route(category_id=category_id, cell_id=cell_id, on=today)
            assigned += not decision.is_fallback
        product.append((time.perf_counter() - started) / points * 1e6)
    return {
        "product_us": product,
        "locate_us": locate_only,
        "bare_us": bare,
        "assigned_share": assigned / points,
    }


# -- intake -----------------------------------------------------------------------------------


def intake_prepare() -> dict:
    """The bare view's table, an Open311 key without a practical rate limit, and what the
    load generator posts (a caseworker's cell and a leaf category of the demo)."""
    from cases.services.apikeys import api_key_create
    from departments.models import Category, GridCell, User

    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {BARE_TABLE} "
            "(id bigserial PRIMARY KEY, body text NOT NULL, created_at timestamptz NOT NULL)"
        )
    _key, raw = api_key_create(name=f"bench {time.time():.0f}", rate_limit_per_minute=10**8)
    user = User.objects.get(username="cd_caseworker")
    cell = GridCell.objects.filter(township_id=user.township_id).order_by("code").first()
    leaves = Category.objects.filter(children__isnull=True, parent__isnull=False)
    category = leaves.order_by("code").first()
    ring = cell.boundary["coordinates"][0]
    if cell.boundary["type"] == "MultiPolygon":
        ring = cell.boundary["coordinates"][0][0]
    lng = sum(p[0] for p in ring[:-1]) / (len(ring) - 1)
    lat = sum(p[1] for p in ring[:-1]) / (len(ring) - 1)
    return {
        "api_key": raw,
        "username": user.username,
        "cell_id": cell.pk,
        "township_id": cell.township_id,
        "category_id": category.pk,
        "category_code": category.code,
        "lat": lat,
        "lng": lng,
    }


def intake_counts() -> dict:
    """Rows each intake target has written so far: a replayed report writes none."""
    from bench.views import SIGNED_IN_PREFIX
    from cases.models import Case, Source

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {BARE_TABLE}")
        bare = cursor.fetchone()[0]
    web = Case.objects.filter(source=Source.WEB)
    return {
        "bare": bare,
        "signed_in": web.filter(number__startswith=SIGNED_IN_PREFIX).count(),
        "web": web.exclude(number__startswith=SIGNED_IN_PREFIX).count(),
        "open311": Case.objects.filter(source=Source.OPEN311).count(),
    }


# -- pages ------------------------------------------------------------------------------------

PAGE_USERS = {"liaison": "liaison_urban", "caseworker": "cd_caseworker", "supervisor": "district"}
PAGES = ["/cases/", "/cases/fallback/", "/dashboard/", "/admin/cases/case/"]
REFERENCE_PAGE = "/bench/page/"
SLOW_PAGE_MS = 3000


def pages(runs: int) -> dict:
    """Each page for each role through Django's full stack in-process (test client, no
    network): the status, the median and range of `runs` timed requests, and the number
    of SQL queries of one more request. The reference is a bare signed-in page."""
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from departments.models import User

    results = {}
    for role, username in PAGE_USERS.items():
        user = User.objects.get(username=username)
        client = Client(raise_request_exception=False)
        client.force_login(user)
        for url in [REFERENCE_PAGE, *PAGES]:
            client.get(url)  # warm-up: caches, templates, the routing index
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                response = client.get(url)
                first = (time.perf_counter() - started) * 1000
            # Counted now: the next request's request_started signal clears the query log.
            query_count = len(queries.captured_queries)
            times = [first]
            # A page already far over its budget is timed once: more runs tell nothing new.
            for _run in range(runs - 1 if first < SLOW_PAGE_MS else 0):
                started = time.perf_counter()
                client.get(url)
                times.append((time.perf_counter() - started) * 1000)
            results[f"{role} {url}"] = {
                "status": response.status_code,
                "ms": times,
                "median_ms": statistics.median(times),
                "queries": query_count,
            }
    return results


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
}

if __name__ == "__main__":
    action, *args = sys.argv[1:]
    timezone.activate(timezone.get_default_timezone())
    print(json.dumps(ACTIONS[action](*args)))
