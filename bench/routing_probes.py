"""The product side of the routing section: a synthetic district of its own (cells,
categories, departments, responsibility lines), then locating and routing points on it
against shapely's bare STRtree query. Run through bench/probes.py, which sets Django up first.
"""

from __future__ import annotations

import random
import time
from datetime import date

from django.db import transaction

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
