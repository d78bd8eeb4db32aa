"""The paginator of the case lists (/cases/, /cases/fallback/, the admin changelist).

Counting every visible case was most of a list page's time at a million cases (a
liaison's 300,000 cases cost 0.3–1 s to count, bench/RESULTS.md), although a page shows
50. So a list counts exactly only up to `EXACT_COUNT_LIMIT`; past it, the whole table's
row estimate stands in for an unfiltered list, and "more than the limit" for a filtered
one. Either then pages only as deep as the limit: the filters narrow it further, and a page
a million rows deep would cost its OFFSET's seconds.
"""

from math import ceil

from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property

EXACT_COUNT_LIMIT = 5000


def count_up_to(rows, limit: int) -> int:
    """How many rows the queryset holds, counted no further than `limit` + 1: ids alone,
    in no order, under a LIMIT at which PostgreSQL stops reading, however many match.
    More than `limit` means "too many", whatever the number."""
    return rows.order_by().values("pk")[: limit + 1].count()


class CasePaginator(Paginator):
    """A Paginator whose `count` costs at most `EXACT_COUNT_LIMIT` rows. `count_is` says
    what `count` is: "exact", "estimate" (PostgreSQL's row estimate of the whole table,
    kept by ANALYZE and autovacuum) or "lower_bound" (there are more than `count`)."""

    count_is = "exact"

    @cached_property
    def count(self):
        queryset = self.object_list
        if queryset.query.is_empty():
            return 0
        estimate = self._table_estimate(queryset)
        if estimate is not None and estimate > EXACT_COUNT_LIMIT:
            self.count_is = "estimate"
            return estimate
        counted = count_up_to(queryset, EXACT_COUNT_LIMIT)
        if counted > EXACT_COUNT_LIMIT:
            self.count_is = "lower_bound"
            return EXACT_COUNT_LIMIT
        return counted

    @cached_property
    def num_pages(self):
        pages = super().num_pages
        if self.count_is == "exact":
            return pages
        return min(pages, ceil(EXACT_COUNT_LIMIT / self.per_page))

    @staticmethod
    def _table_estimate(queryset) -> int | None:
        """The table's row estimate when `queryset` is the whole table (no filter, no
        DISTINCT, no slice) on PostgreSQL; None otherwise or when never analysed."""
        query = queryset.query
        connection = connections[queryset.db]
        if (
            connection.vendor != "postgresql"
            or query.where
            or query.distinct
            or query.is_sliced
            or query.combinator
        ):
            return None
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                [connection.ops.quote_name(queryset.model._meta.db_table)],
            )
            row = cursor.fetchone()
        return row[0] if row and row[0] >= 0 else None
