"""The product side of the intake section: what the load generator posts (an Open311 key,
a caseworker's cell, a leaf category) and the bare view's table, and the rows each
intake target has written. Run through bench/probes.py, which sets Django up first.
"""

from __future__ import annotations

import time

from django.db import connection

BARE_TABLE = "bench_bare_insert"


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
