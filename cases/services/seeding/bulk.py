"""Writing many rows fast: PostgreSQL's COPY where available, `bulk_create` elsewhere.

Rows are plain dicts of attribute names (`case_id`, not `case`) to Python values. For a
100,000-case seed, compiling INSERT statements in the ORM cost more than the database
did; COPY skips that. Model defaults are filled in once per model, not per row.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal

from django.db import connection

NULL = r"\N"


def can_copy() -> bool:
    """COPY needs PostgreSQL through psycopg2 (psycopg 3 spells it differently)."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        return hasattr(cursor.cursor, "copy_expert")


def analyze(*models) -> None:
    """Give PostgreSQL statistics of tables just filled, inside the transaction that
    filled them: autovacuum cannot see rows not yet committed, and without statistics the
    planner guesses. (Guessing, the supervision roll-up of a million-case seed looked up
    each reopen's resolve by reading every resolve before it, and had not finished after
    20 minutes.) Other databases plan without them."""
    if connection.vendor != "postgresql":
        return
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE " + ", ".join(quote(m._meta.db_table) for m in models))


def reserve_ids(model, count: int) -> list[int]:
    """`count` primary keys from the table's own sequence, so that children can point at
    rows before they are written. PostgreSQL only."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [model._meta.db_table, model._meta.pk.column, count],
        )
        return [row[0] for row in cursor.fetchall()]


def _text(value) -> str:
    if value is None:
        return NULL
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Decimal | int | float):
        return str(value)
    return str(value)


def copy_rows(model, rows: Sequence[dict], *, with_pk: bool) -> None:
    """COPY `rows` into `model`'s table; absent fields take the model's defaults."""
    fields = [f for f in model._meta.concrete_fields if with_pk or not f.primary_key]
    # What the ORM would store for an absent field: its default, "" for text, else NULL.
    defaults = {f.attname: f.get_default() for f in fields if not f.primary_key}
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    attnames = [f.attname for f in fields]
    for row in rows:
        writer.writerow([_text(row.get(name, defaults.get(name))) for name in attnames])
    buffer.seek(0)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.cursor.copy_expert(
            f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv, NULL '{NULL}')", buffer
        )
