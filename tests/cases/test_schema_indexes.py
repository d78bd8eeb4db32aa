"""Every index costs each write of its table: the busiest tables carry none that another
index already serves (a leading prefix of a full index), and no LIKE index (no search uses
a prefix of a case number, a state or an email key)."""

import pytest
from django.db import connection

BUSY_TABLES = [
    "cases_case",
    "cases_caseassist",
    "cases_caseevent",
    "cases_escalation",
    "cases_outboxmessage",
]


def _indexes(table: str) -> list[tuple[str, list[str], bool, bool]]:
    """(name, key columns, partial, uses a pattern operator class) of each index. A key
    that is an expression (the search's bigrams) is its text: no column leads it."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT i.relname,
                   ARRAY(SELECT pg_get_indexdef(x.indexrelid, k, true)
                         FROM generate_series(1, x.indnkeyatts) AS k ORDER BY k),
                   x.indpred IS NOT NULL,
                   pg_get_indexdef(x.indexrelid) LIKE '%%pattern_ops%%'
            FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
            WHERE x.indrelid = %s::regclass
            """,
            [table],
        )
        return [(name, list(columns), partial, like) for name, columns, partial, like in cursor]


@pytest.mark.django_db
@pytest.mark.parametrize("table", BUSY_TABLES)
def test_no_index_is_served_by_another_or_is_a_like_index(table):
    indexes = _indexes(table)
    assert indexes, table
    assert [name for name, _cols, _partial, like in indexes if like] == []
    full = [(name, cols) for name, cols, partial, _like in indexes if not partial]
    redundant = [
        (name, other)
        for name, cols in full
        for other, other_cols in full
        if name != other and len(cols) < len(other_cols) and other_cols[: len(cols)] == cols
    ]
    assert redundant == []
