"""The product side of the pages section: each page for each role through Django's full
stack in-process, timed and its queries counted.
Run through bench/probes.py, which sets Django up first.
"""

from __future__ import annotations

import statistics
import time

from django.db import connection

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
