"""The overdue sweep and the escalation ladder (SPEC §4).

`escalation_sweep` is a fixed handful of statements whatever the number of cases:

0. one query asks whether a calendar change still waits for the running deadlines to
   follow it (cases/services/calendar_changes.py); one that does is followed first;
1. per rung (reminder, levels 1–3) one `INSERT … SELECT … ON CONFLICT DO NOTHING` over
   the partial indexes of cases whose clock runs, tagging new rows with this sweep's id;
2. one grouped SELECT says which (rung, owner, township) groups this sweep reached and how
   many escalations each holds (another sweep's rows are not ours); everybody in a group
   is told by the same people, so recipients are resolved per group, never per case;
3. one UPDATE … FROM raises `Case.escalation_level` (a derived counter: it does not touch
   the case's `version`, so a liaison acting at the same moment is not told it changed);
4. one SELECT finds the people of every group (and their languages) at once;
5. one INSERT … SELECT of audit rows and one INSERT … SELECT of small, unrendered outbox
   rows (address, language, escalation, Message-ID), both joining the new escalations to
   the groups' recipients in the database (`escalation_notices`); after the commit one
   task is queued that queues a delivery task per batch of the sweep's messages
   (`outbox.publishing.publish_sweep`), and each delivery renders its email just before
   sending it (`escalation_mail.render_message`), outside the sweep's transaction and
   memory.

The unique (case, deadline_seq, level) constraint makes each rung happen once: a second
sweep at the same moment waits on the first's uncommitted rows, then inserts nothing. Only
the current clock columns are compared, and they are NULL when the clock is stopped
(resolved, closed, cancelled) or paused (suspended), so those cases never escalate.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from cases.models import (
    CLOCK_STATES,
    Case,
    Escalation,
    EscalationLevel,
    SweepRun,
)
from cases.services import deadlines, escalation_mail, escalation_notices
from cases.services.calendar_changes import calendar_changes_waiting, follow_calendar_changes
from cases.services.outbox.publishing import requeue_stuck, schedule_sweep_delivery

logger = logging.getLogger(__name__)

# Which stored moment each rung compares with the clock.
RUNG_COLUMNS = {
    EscalationLevel.REMINDER: "remind_at",
    EscalationLevel.LEVEL_1: "due_at",
    EscalationLevel.LEVEL_2: "escalate_2_at",
    EscalationLevel.LEVEL_3: "escalate_3_at",
}
SWEEP_HISTORY = timedelta(days=7)


class SweepAborted(Exception):
    """Raised inside the sweep's transaction to roll a dry run back."""


@dataclass(frozen=True, slots=True)
class EscalationGroup:
    """The new escalations of one rung, owner and township: all told by the same people."""

    level: int
    department_id: int | None  # None: the township's fallback pool
    township_id: int
    supervisor_emails: tuple[str, ...]  # the department's supervisor_emails, split
    count: int

    @property
    def key(self) -> tuple[int, int | None, int]:
        return (self.level, self.department_id, self.township_id)


@dataclass
class SweepResult:
    sweep_id: uuid.UUID
    now: datetime
    dry_run: bool
    groups: list[EscalationGroup] = field(default_factory=list)
    # (level, department_id, township_id) → the addresses told about that group
    recipients: dict[tuple[int, int | None, int], list[str]] = field(default_factory=dict)
    messages: int = 0
    requeued: int = 0
    loaded: list[Escalation] | None = field(default=None, repr=False)

    @property
    def escalations(self) -> list[Escalation]:
        """The new escalations as models (case, department and township joined), loaded on first use
        after the sweep, so the sweep itself never holds thousands of model objects."""
        if self.loaded is None:
            self.loaded = (
                list(
                    Escalation.objects.filter(sweep_id=self.sweep_id)
                    .select_related("case", "department", "township")
                    .order_by("case__number", "level")
                )
                if self.groups
                else []
            )
        return self.loaded

    def recipients_of(self, escalation: Escalation) -> list[str]:
        key = (escalation.level, escalation.department_id, escalation.township_id)
        return self.recipients.get(key, [])

    @property
    def escalated_count(self) -> int:
        return sum(g.count for g in self.groups if g.level >= EscalationLevel.LEVEL_1)

    @property
    def reminded_count(self) -> int:
        return sum(g.count for g in self.groups if g.level == EscalationLevel.REMINDER)

    @property
    def escalated(self) -> list[Escalation]:
        return [e for e in self.escalations if e.level >= EscalationLevel.LEVEL_1]

    @property
    def reminded(self) -> list[Escalation]:
        return [e for e in self.escalations if e.level == EscalationLevel.REMINDER]

    def summary(self) -> dict:
        return {
            "sweep_id": str(self.sweep_id),
            "now": self.now.isoformat(),
            "dry_run": self.dry_run,
            "escalated": self.escalated_count,
            "reminded": self.reminded_count,
            "messages": self.messages,
            "requeued": self.requeued,
        }


# -- the sweep ----------------------------------------------------------------------------


def _insert_rung(level: int, *, now: datetime, sweep_id: uuid.UUID) -> None:
    """One INSERT … SELECT … ON CONFLICT DO NOTHING for one rung (PostgreSQL and SQLite)."""
    column = RUNG_COLUMNS[level]
    esc_table = connection.ops.quote_name(Escalation._meta.db_table)
    case_table = connection.ops.quote_name(Case._meta.db_table)
    now_db = Escalation._meta.get_field("created_at").get_db_prep_value(now, connection)
    sweep_db = Escalation._meta.get_field("sweep_id").get_db_prep_value(sweep_id, connection)
    states = list(CLOCK_STATES)
    # A reminder only makes sense while the deadline is still ahead; from the deadline
    # itself on (`due_at <= now`, overdue), level 1 speaks instead.
    still_ahead = " AND c.due_at > %s" if level == EscalationLevel.REMINDER else ""
    sql = f"""
        INSERT INTO {esc_table} (
            case_id, deadline_seq, deadline_kind, level, due_at, deadline_at, created_at,
            sweep_id, department_id, township_id, acknowledged_at, acknowledged_by_email
        )
        SELECT c.id, c.deadline_seq, c.deadline_kind, %s, c.{column}, c.due_at, %s,
               %s, c.lead_department_id, c.township_id, NULL, ''
        FROM {case_table} c
        WHERE c.state IN ({", ".join(["%s"] * len(states))})
          AND c.{column} <= %s AND c.due_at IS NOT NULL{still_ahead}
        ON CONFLICT (case_id, deadline_seq, level) DO NOTHING
    """
    params = [int(level), now_db, sweep_db, *states, now_db]
    if still_ahead:
        params.append(now_db)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _raise_case_levels(sweep_db) -> None:
    """Set each newly escalated case's level to the highest rung this sweep reached on its
    current deadline, in one UPDATE … FROM; a case whose clock restarted meanwhile is left
    alone (its deadline_seq moved on)."""
    q = connection.ops.quote_name
    case_table, esc_table = q(Case._meta.db_table), q(Escalation._meta.db_table)
    sql = f"""
        UPDATE {case_table} SET escalation_level = reached.top
        FROM (
            SELECT case_id, deadline_seq, MAX(level) AS top FROM {esc_table}
            WHERE sweep_id = %s AND level >= %s
            GROUP BY case_id, deadline_seq
        ) AS reached
        WHERE {case_table}.id = reached.case_id
          AND {case_table}.deadline_seq = reached.deadline_seq
          AND {case_table}.escalation_level < reached.top
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [sweep_db, int(EscalationLevel.LEVEL_1)])


def _new_groups(sweep_id: uuid.UUID) -> list[EscalationGroup]:
    """The (rung, owner, township) groups this sweep's rows fall into, with their sizes."""
    rows = (
        Escalation.objects.filter(sweep_id=sweep_id)
        .values_list("level", "department_id", "township_id", "department__supervisor_emails")
        .annotate(count=Count("pk"))
        .order_by("level", "township_id", "department_id")
    )
    return [
        EscalationGroup(
            level,
            department_id,
            township_id,
            tuple(a.strip() for a in (emails_listed or "").split(";") if a.strip()),
            count,
        )
        for level, department_id, township_id, emails_listed, count in rows
    ]


def _sweep_in_transaction(result: SweepResult) -> None:
    now, sweep_id = result.now, result.sweep_id
    sweep_db = Escalation._meta.get_field("sweep_id").get_db_prep_value(sweep_id, connection)
    deadlines.hold_clocks(exclusive=False)
    for level in RUNG_COLUMNS:
        _insert_rung(level, now=now, sweep_id=sweep_id)
    result.groups = groups = _new_groups(sweep_id)
    if not groups:
        return
    _raise_case_levels(sweep_db)
    addresses, languages = escalation_mail.group_recipients(groups)
    result.recipients = addresses
    escalation_notices.write_audit(groups, addresses, now=now, sweep_db=sweep_db)
    # Stamped last, just before the commit: `next_attempt_at` is when a delivery should
    # start at the latest, so a row must not look overdue before it could be delivered.
    result.messages, to_deliver = escalation_notices.write_messages(
        groups, addresses, languages, created_at=timezone.now(), sweep_db=sweep_db
    )
    if result.dry_run:
        result.escalations  # noqa: B018 (loaded now: the rollback will take the rows away)
        return
    if to_deliver:
        schedule_sweep_delivery(sweep_id)


def escalation_sweep(*, now: datetime | None = None, dry_run: bool = False) -> SweepResult:
    """Escalate every case whose next rung is due at `now`, exactly once per
    (case, deadline, level), and queue the emails for delivery after the commit.

    With `dry_run` the same statements run and are rolled back: the result says what would
    have escalated and to whom; nothing is changed and nothing is sent. Otherwise the sweep
    also re-queues outbox messages left pending too long, and records itself in `SweepRun`.
    Safe to run in several processes at once.
    """
    now = now or timezone.now()
    if not dry_run and calendar_changes_waiting():
        # A holiday entered since may have given these cases more time: the deadlines
        # compared below must be the ones the calendar gives now.
        try:
            follow_calendar_changes()
        except Exception:  # a change that cannot be followed must not stop every sweep
            logger.exception(
                "Could not move the running deadlines with the calendar; the sweep compares "
                "them as they stand."
            )
    result = SweepResult(sweep_id=uuid.uuid4(), now=now, dry_run=dry_run)
    run = (
        None
        if dry_run
        else SweepRun.objects.create(started_at=timezone.now(), clock=now, sweep_id=result.sweep_id)
    )
    try:
        with transaction.atomic(durable=True):
            _sweep_in_transaction(result)
            if dry_run:
                raise SweepAborted
    except SweepAborted:
        pass
    except Exception as error:
        if run is not None:
            SweepRun.objects.filter(pk=run.pk).update(error=f"{type(error).__name__}: {error}")
        raise
    if dry_run:
        return result
    # Compared with the sweep's start, so the messages it has just written are never
    # "stuck", however long it took.
    result.requeued = len(requeue_stuck(now=run.started_at))
    # The heartbeat only needs recent history: one row a minute would grow without end.
    SweepRun.objects.filter(started_at__lt=timezone.now() - SWEEP_HISTORY).delete()
    SweepRun.objects.filter(pk=run.pk).update(
        finished_at=timezone.now(),
        escalated=result.escalated_count,
        reminded=result.reminded_count,
        messages=result.messages,
        requeued=result.requeued,
    )
    if result.groups:
        # The whole id, as the sweep's record (the admin's Escalation sweeps) and the
        # escalations carry it: the log filter keeps UUIDs, but masks a short one with 7
        # digits in a row ("a6758061" became "a***8061") as a phone number.
        logger.info(
            "Sweep %s: %d escalation(s), %d reminder(s), %d email(s).",
            result.sweep_id,
            result.escalated_count,
            result.reminded_count,
            result.messages,
        )
    return result
