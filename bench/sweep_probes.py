"""The product side of the sweep section: one product sweep (`escalation_sweep`, then
queuing its emails as the worker does), the SQL floor, the counts of what there is to
sweep, and undoing every sweep between runs.
Run through bench/probes.py, which sets Django up first.
"""

from __future__ import annotations

import resource
import time
from datetime import datetime

from django.db import connection, transaction


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class StatementCounter:
    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


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
