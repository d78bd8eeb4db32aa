"""What the two daily roll-ups' refreshes share (the dashboard's, `cases.services.figures`,
and the supervision page's, `cases.services.supervision`): the advisory lock that
serialises each one's refreshes, how far by id one may count append-only rows, and as of
when a page's figures are when it read them without a refresh.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connection
from django.db.models import Max

# Set with a refresh's lock, for its transaction only. Derived rows need no flush to disk:
# a refresh lost in a crash, mark included, is simply done again.
REFRESH_SETTINGS = {"synchronous_commit": "off"}


def rollup_lock(key: int, *, wait: bool = True, config: dict[str, str] | None = None) -> bool:
    """Take a roll-up's lock (`key`) until the transaction ends (PostgreSQL; SQLite has one
    writer at a time anyway), and make the `config` settings for the transaction; without
    `wait`, only if no one holds it: whether it is held now. (Settings made without the
    lock go with the transaction, which then does nothing.)"""
    if connection.vendor != "postgresql":
        return True
    take = "pg_advisory_xact_lock(%s)" if wait else "pg_try_advisory_xact_lock(%s)"
    config = config or {}
    configs = "".join(", set_config(%s, %s, true)" for _name in config)
    with connection.cursor() as cursor:
        # The lock first: the snapshot of pg_stat_activity must postdate it.
        cursor.execute(
            f"SELECT {take}, pg_stat_clear_snapshot(){configs}",
            [key, *(part for item in config.items() for part in item)],
        )
        return wait or cursor.fetchone()[0]


def refreshed_as_of(mark_model) -> datetime | None:
    """When the roll-up of `mark_model` (its one mark row) was last brought up to date;
    None while it holds no figures of this TIME_ZONE's days yet (its first build, or the
    one after TIME_ZONE changed, is still under way or was never done)."""
    mark = mark_model.objects.filter(pk=1, time_zone=settings.TIME_ZONE).first()
    return mark.refreshed_at if mark else None


@dataclass(frozen=True)
class IdMark:
    after: int  # every id up to it is committed or rolled back: a roll-up may count them
    seq: int  # the id sequence, read at `seq_at`
    seq_at: datetime
    oldest_open: datetime | None  # the start of the oldest other open transaction


def committed_id_mark(
    model, *, after: int, seq: int, seq_at: datetime | None, now: datetime, postgres: bool
) -> IdMark:
    """How far a roll-up of `model`'s append-only rows may count, by id: `after`, `seq` and
    `seq_at` are its previous mark's. Call it holding the roll-up's lock, before reading
    the rows."""
    if not postgres:
        # One writer at a time: an uncommitted row's id is above every visible one.
        top = model.objects.aggregate(top=Max("pk"))["top"] or 0
        return IdMark(max(after, top), top, now, None)
    with connection.cursor() as cursor:
        # The sequence before the clock: a transaction starting after `new_seq_at` can
        # only take ids above `new_seq`.
        cursor.execute(
            "SELECT pg_sequence_last_value(pg_get_serial_sequence(%s, 'id')::regclass)",
            [model._meta.db_table],
        )
        new_seq = cursor.fetchone()[0] or 0
        cursor.execute(
            """
            SELECT clock_timestamp(), (
                SELECT min(xact_start) FROM pg_stat_activity
                WHERE datname = current_database() AND pid <> pg_backend_pid()
                  AND backend_type = 'client backend' AND xact_start IS NOT NULL
            )
            """
        )
        new_seq_at, oldest_open = cursor.fetchone()
    if oldest_open is None:
        new_after = new_seq  # every id taken so far is committed or rolled back
    elif seq_at and oldest_open > seq_at:
        new_after = seq  # the open transactions began after that value was read
    else:
        new_after = after
    return IdMark(max(after, new_after), new_seq, new_seq_at, oldest_open)
