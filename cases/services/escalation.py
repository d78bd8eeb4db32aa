"""The overdue sweep and the escalation ladder (SPEC §4).

`escalation_sweep` is a fixed handful of statements whatever the number of cases:

1. per rung (reminder, levels 1–3) one `INSERT … SELECT … ON CONFLICT DO NOTHING` over
   the partial indexes of cases whose clock runs, tagging new rows with this sweep's id;
2. one SELECT takes back the rows this sweep inserted (another sweep's rows are not ours);
3. one UPDATE raises `Case.escalation_level` (a derived counter: it does not touch the
   case's `version`, so a liaison acting at the same moment is not told the case changed);
4. one SELECT resolves the recipients (and their languages) of all of them at once;
5. one INSERT of audit rows (on PostgreSQL an INSERT … SELECT from the new escalations)
   and one INSERT … RETURNING of small, unrendered outbox rows (address, language,
   escalation, Message-ID), built without model objects; after the commit one delivery
   task per batch of messages is queued, and each delivery renders its email just before
   sending it (`render_message`), outside the sweep's transaction and its memory.

The unique (case, deadline_seq, level) constraint makes each rung happen once: a second
sweep at the same moment waits on the first's uncommitted rows, then inserts nothing. Only
the current clock columns are compared, and they are NULL when the clock is stopped
(resolved, closed, cancelled) or paused (suspended), so those cases never escalate.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, OuterRef, Q, Subquery
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone

from cases import emails
from cases.models import (
    CLOCK_STATES,
    Case,
    CaseEvent,
    Escalation,
    EscalationLevel,
    OutboxMessage,
    SweepRun,
)
from cases.services import outbox
from cases.signed_links import SignedLinkError, make_token, read_token
from departments.calendar import get_calendar
from departments.models import User

logger = logging.getLogger(__name__)
Status = OutboxMessage.Status

# Which stored moment each rung compares with the clock.
RUNG_COLUMNS = {
    EscalationLevel.REMINDER: "remind_at",
    EscalationLevel.LEVEL_1: "due_at",
    EscalationLevel.LEVEL_2: "escalate_2_at",
    EscalationLevel.LEVEL_3: "escalate_3_at",
}
TIMELINE_STEPS = 3
ACK_SALT = "cases.escalation.acknowledge"
ACK_MAX_AGE = timedelta(days=14)
SWEEP_HISTORY = timedelta(days=7)


class SweepAborted(Exception):
    """Raised inside the sweep's transaction to roll a dry run back."""


@dataclass(frozen=True, slots=True)
class NewEscalation:
    """What the sweep itself needs of an escalation it inserted: a few columns, no models."""

    pk: int
    case_id: int
    level: int
    deadline_seq: int
    deadline_kind: str
    department_id: int | None
    township_id: int
    case_number: str
    supervisor_emails: list[str]  # the department's supervisor_emails, split


@dataclass
class SweepResult:
    sweep_id: uuid.UUID
    now: datetime
    dry_run: bool
    rows: list[NewEscalation] = field(default_factory=list)
    recipients: dict[int, list[str]] = field(default_factory=dict)  # escalation pk → addresses
    messages: int = 0
    requeued: int = 0
    loaded: list[Escalation] | None = field(default=None, repr=False)

    @property
    def escalations(self) -> list[Escalation]:
        """The new escalations as models (case and department joined), loaded on first use
        after the sweep, so the sweep itself never holds thousands of model objects."""
        if self.loaded is None:
            self.loaded = (
                list(
                    Escalation.objects.filter(sweep_id=self.sweep_id)
                    .select_related("case", "department")
                    .order_by("case__number", "level")
                )
                if self.rows
                else []
            )
        return self.loaded

    @property
    def escalated_count(self) -> int:
        return sum(1 for e in self.rows if e.level >= EscalationLevel.LEVEL_1)

    @property
    def reminded_count(self) -> int:
        return sum(1 for e in self.rows if e.level == EscalationLevel.REMINDER)

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


# -- signed acknowledge links -----------------------------------------------------------


# Kept under these names for the views and tests that catch them.
AckLinkError = SignedLinkError


def ack_token(*, escalation_pk: int, address: str) -> str:
    """A signed, timestamped token naming the escalation and the address it was sent to."""
    return make_token(salt=ACK_SALT, pk=escalation_pk, address=address)


def read_ack_token(token: str, *, max_age: timedelta = ACK_MAX_AGE) -> tuple[int, str]:
    """(escalation pk, address) from a token; AckLinkError if altered or too old."""
    return read_token(token, salt=ACK_SALT, max_age=max_age)


def ack_url(*, escalation_pk: int, address: str) -> str:
    path = reverse(
        "escalations:acknowledge",
        kwargs={"token": ack_token(escalation_pk=escalation_pk, address=address)},
    )
    return f"{settings.SITE_URL}{path}"


@dataclass(frozen=True)
class Acknowledgement:
    escalation: Escalation
    done_now: bool  # False: it had been acknowledged before (by `escalation.acknowledged_by_email`)


@transaction.atomic
def escalation_acknowledge(
    *, escalation_pk: int, address: str, now: datetime | None = None
) -> Acknowledgement:
    """Record that `address` acknowledged the escalation, once: the first acknowledgement
    wins and writes an audit row with the address as actor; later ones change nothing."""
    now = now or timezone.now()
    updated = Escalation.objects.filter(pk=escalation_pk, acknowledged_at__isnull=True).update(
        acknowledged_at=now, acknowledged_by_email=address
    )
    escalation = Escalation.objects.select_related("case").get(pk=escalation_pk)
    if updated:
        CaseEvent.objects.create(
            case=escalation.case,
            action="acknowledge",
            actor_label=address,
            data={
                "escalation": escalation.pk,
                "level": escalation.level,
                "deadline_seq": escalation.deadline_seq,
                "deadline": escalation.deadline_kind,
            },
            at=now,
        )
    return Acknowledgement(escalation=escalation, done_now=bool(updated))


# -- the sweep ----------------------------------------------------------------------------


def _insert_rung(level: int, *, now: datetime, sweep_id: uuid.UUID) -> None:
    """One INSERT … SELECT … ON CONFLICT DO NOTHING for one rung (PostgreSQL and SQLite)."""
    column = RUNG_COLUMNS[level]
    esc_table = connection.ops.quote_name(Escalation._meta.db_table)
    case_table = connection.ops.quote_name(Case._meta.db_table)
    now_db = Escalation._meta.get_field("created_at").get_db_prep_value(now, connection)
    sweep_db = Escalation._meta.get_field("sweep_id").get_db_prep_value(sweep_id, connection)
    states = list(CLOCK_STATES)
    # A reminder only makes sense while the deadline is still ahead; once it has passed,
    # level 1 speaks instead.
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


def _raise_case_levels(sweep_id: uuid.UUID) -> None:
    """Set each newly escalated case's level to the highest rung this sweep reached on its
    current deadline; a case whose clock restarted meanwhile is left alone."""
    reached = (
        Escalation.objects.filter(
            sweep_id=sweep_id,
            case=OuterRef("pk"),
            deadline_seq=OuterRef("deadline_seq"),
            level__gte=EscalationLevel.LEVEL_1,
        )
        .values("case")
        .annotate(top=Max("level"))
        .values("top")
    )
    escalated = Escalation.objects.filter(
        sweep_id=sweep_id, level__gte=EscalationLevel.LEVEL_1
    ).values("case_id")
    Case.objects.filter(pk__in=escalated, escalation_level__lt=Subquery(reached)).update(
        escalation_level=Subquery(reached)
    )


def _recipients(new: list[NewEscalation]) -> tuple[dict[int, list[str]], dict[str, str]]:
    """Addresses per escalation, and each known address's language, with one query.

    Reminder: the owning department's liaisons (the township's dispatchers for the pool).
    Level 1: the department's supervisor_emails (the township's supervisors for the pool).
    Level 2: the township's supervisors. Level 3: district supervisors (no township).
    A rung with nobody to tell goes to the next rung's people rather than to no one."""
    department_ids = {e.department_id for e in new if e.department_id}
    township_ids = {e.township_id for e in new}
    listed = {address.lower() for e in new if e.department_id for address in e.supervisor_emails}
    Role = User.Role
    users = list(
        User.objects.filter(is_active=True)
        .exclude(email="")
        .annotate(email_lower=Lower("email"))
        .filter(
            Q(role=Role.LIAISON, department_id__in=department_ids)
            | Q(role__in=[Role.SUPERVISOR, Role.DISPATCHER], township_id__in=township_ids)
            | Q(role=Role.SUPERVISOR, township__isnull=True)
            | Q(email_lower__in=listed)
        )
        .order_by("pk")
        .values("email", "email_lower", "role", "township_id", "department_id", "language")
    )
    languages = {u["email_lower"]: u["language"] for u in users}
    liaisons, dispatchers, township_supervisors = (defaultdict(list) for _ in range(3))
    district = []
    for u in users:
        if u["role"] == Role.LIAISON and u["department_id"]:
            liaisons[u["department_id"]].append(u["email"])
        elif u["role"] == Role.DISPATCHER and u["township_id"]:
            dispatchers[u["township_id"]].append(u["email"])
        elif u["role"] == Role.SUPERVISOR:
            if u["township_id"]:
                township_supervisors[u["township_id"]].append(u["email"])
            else:
                district.append(u["email"])

    def rung(level: int, e: NewEscalation) -> list[str]:
        if level == EscalationLevel.REMINDER:
            return liaisons[e.department_id] if e.department_id else dispatchers[e.township_id]
        if level == EscalationLevel.LEVEL_1 and e.department_id:
            return e.supervisor_emails
        if level in (EscalationLevel.LEVEL_1, EscalationLevel.LEVEL_2):
            return township_supervisors[e.township_id]
        return district

    addresses = {}
    for e in new:
        found: list[str] = []
        for level in range(e.level, EscalationLevel.LEVEL_3 + 1):
            found = rung(level, e)
            if found or e.level == EscalationLevel.REMINDER:
                break
        unique = list(dict.fromkeys(a.strip() for a in found if a.strip()))
        if not unique:
            logger.warning(
                "Escalation %s (case %s, level %s) has nobody to tell.",
                e.pk,
                e.case_number,
                e.level,
            )
        addresses[e.pk] = unique
    return addresses, languages


def _timeline(e: Escalation) -> list[CaseEvent]:
    """The last few audit rows of the case before this escalation (the sweep's own audit
    rows are written at its clock, so they are not part of the email's story)."""
    return list(
        CaseEvent.objects.filter(case_id=e.case_id, at__lt=e.created_at)
        .select_related("actor")
        .order_by("-at", "-id")[:TIMELINE_STEPS]
    )


def _render(
    e: Escalation, address: str, language: str, *, now: datetime, timeline, calendar
) -> tuple[str, str, str, str]:
    """(kind, subject, text, html) of the email about `e` to `address`."""
    if e.level == EscalationLevel.REMINDER:
        return "reminder", *emails.reminder(
            escalation=e,
            language=language,
            left_seconds=calendar.working_seconds_between(now, e.deadline_at),
            timeline=timeline,
        )
    return "escalation", *emails.escalation(
        escalation=e,
        language=language,
        overdue_seconds=calendar.working_seconds_between(e.deadline_at, now),
        timeline=timeline,
        ack_url=ack_url(escalation_pk=e.pk, address=address),
        ack_days=ACK_MAX_AGE.days,
    )


def _bare_email(e: Escalation) -> tuple[str, str, str, str]:
    """A template-free email, for when rendering the real one failed: people still hear of
    the escalation, and the failure is in the log and on the outbox row."""
    case_url = f"{settings.SITE_URL}/cases/{e.case.number}/"
    if e.level == EscalationLevel.REMINDER:
        subject = f"[{e.case.number}] due soon"
        return "reminder", subject, f"{subject}.\n{case_url}\n", ""
    subject = f"[{e.case.number}] level {e.level} escalation"
    return "escalation", subject, f"{subject}.\n{case_url}\n", ""


def render_message(message: OutboxMessage) -> str:
    """Fill in the subject, text and HTML of an escalation's outbox row, in the
    recipient's language, as of the sweep's clock (the escalation's `created_at`).

    Called by the delivery (`outbox.deliver`) with the row locked, just before it is sent:
    the sweep itself only writes who is told about which escalation. A template that fails
    gives a bare email rather than none; the returned text says why (empty when fine)."""
    e = Escalation.objects.select_related(
        "case__category", "case__cell", "department", "township"
    ).get(pk=message.escalation_id)
    language = message.language or settings.LANGUAGE_CODE
    error = ""
    try:
        kind, subject, text, html = _render(
            e,
            message.to,
            language,
            now=e.created_at,
            timeline=_timeline(e),
            calendar=get_calendar(),
        )
    except Exception as failure:  # one bad case must not stop its email
        logger.exception("Escalation %s: rendering failed, sending a bare email.", e.pk)
        error = f"Rendering failed, sent a bare email: {type(failure).__name__}: {failure}"
        kind, subject, text, html = _bare_email(e)
    message.subject = " ".join(subject.split())[:255]
    message.text, message.html = text, html
    return error


def _messages(
    new: list[NewEscalation],
    addresses: dict[int, list[str]],
    languages: dict[str, str],
    *,
    created_at: datetime,
) -> list[dict]:
    """One small, unrendered outbox row per recipient of each new escalation: the address,
    the language, the escalation, a stable Message-ID and the dedupe key. The delivery
    renders the email (`render_message`) just before sending it. An address that is not
    one is stored `failed` with the reason, as `outbox.build_message` does."""
    domain = outbox.mail_domain()
    invalid: dict[str, str] = {}  # address → why it is not one (checked once per address)
    messages = []
    for e in new:
        kind = "reminder" if e.level == EscalationLevel.REMINDER else "escalation"
        seen = set()
        for address in addresses[e.pk]:
            key = address.lower()
            if key in seen:  # the same address twice, in other letter cases
                continue
            seen.add(key)
            if address not in invalid:
                invalid[address] = outbox.address_error(address)
                if invalid[address]:
                    logger.error("Not an email address %r; its messages are failed.", address)
            messages.append(
                {
                    "kind": kind,
                    "dedupe_key": f"escalation:{e.pk}:{key}",
                    "message_id": f"<{kind}.{uuid.uuid4().hex}@{domain}>",
                    "to": address,
                    "language": languages.get(key, settings.LANGUAGE_CODE),
                    "case_id": e.case_id,
                    "escalation_id": e.pk,
                    "status": (Status.FAILED if invalid[address] else Status.PENDING).value,
                    "last_error": invalid[address],
                    "created_at": created_at,
                    "next_attempt_at": created_at,
                }
            )
    return messages


def _columns(model, names: list[str]) -> str:
    return ", ".join(
        connection.ops.quote_name(model._meta.get_field(name).column) for name in names
    )


def _write_audit(new: list[NewEscalation], addresses: dict[int, list[str]], *, now, sweep_id):
    """One audit row per new escalation. On PostgreSQL one INSERT … SELECT from the
    escalation rows (no model objects); elsewhere one bulk INSERT."""
    if connection.vendor != "postgresql":
        CaseEvent.objects.bulk_create(
            CaseEvent(
                case_id=e.case_id,
                action="remind" if e.level == EscalationLevel.REMINDER else "escalate",
                actor_label="system",
                data={
                    "escalation": e.pk,
                    "level": e.level,
                    "deadline": e.deadline_kind,
                    "deadline_seq": e.deadline_seq,
                    "recipients": addresses[e.pk],
                },
                at=now,
            )
            for e in new
        )
        return
    q = connection.ops.quote_name
    columns = _columns(
        CaseEvent,
        [
            "case",
            "action",
            "from_state",
            "to_state",
            "actor",
            "actor_label",
            "comment",
            "data",
            "at",
        ],
    )
    sql = f"""
        INSERT INTO {q(CaseEvent._meta.db_table)} ({columns})
        SELECT e.case_id, CASE WHEN e.level = %s THEN 'remind' ELSE 'escalate' END, '', '',
               NULL, 'system', '',
               jsonb_build_object(
                   'escalation', e.id, 'level', e.level, 'deadline', e.deadline_kind,
                   'deadline_seq', e.deadline_seq,
                   'recipients', COALESCE(r.recipients, '[]'::jsonb)
               ),
               %s
        FROM {q(Escalation._meta.db_table)} e
        LEFT JOIN jsonb_each(%s::jsonb) AS r(pk, recipients) ON r.pk = e.id::text
        WHERE e.sweep_id = %s
        ORDER BY e.case_id, e.level
    """
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [
                int(EscalationLevel.REMINDER),
                now,
                json.dumps({str(pk): found for pk, found in addresses.items()}),
                sweep_id,
            ],
        )


_OUTBOX_COLUMNS = [
    ("kind", "varchar"),
    ("dedupe_key", "varchar"),
    ("message_id", "varchar"),
    ("to", "varchar"),
    ("language", "varchar"),
    ("case_id", "bigint"),
    ("escalation_id", "bigint"),
    ("status", "varchar"),
    ("last_error", "text"),
    ("created_at", "timestamptz"),
    ("next_attempt_at", "timestamptz"),
]


def _write_messages(messages: list[dict]) -> list[int]:
    """Insert the outbox rows (their escalations are new, so are their dedupe keys) and
    return the ids of those to deliver. On PostgreSQL one INSERT … SELECT FROM unnest(…)
    RETURNING, without model objects; elsewhere one bulk INSERT."""
    if not messages:
        return []
    if connection.vendor != "postgresql":
        rows = [OutboxMessage(subject="", text="", **m) for m in messages]
        OutboxMessage.objects.bulk_create(rows)
        return [m.pk for m in rows if m.status == Status.PENDING]
    q = connection.ops.quote_name
    names = [name for name, _type in _OUTBOX_COLUMNS]
    columns = _columns(OutboxMessage, names)
    arrays = ", ".join(f"%s::{kind}[]" for _name, kind in _OUTBOX_COLUMNS)
    sql = f"""
        INSERT INTO {q(OutboxMessage._meta.db_table)}
            ({columns}, {_columns(OutboxMessage, ["subject", "text", "html", "attempts"])})
        SELECT u.*, '', '', '', 0 FROM unnest({arrays}) AS u
        RETURNING id, {q(OutboxMessage._meta.get_field("status").column)}
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [[m[name] for m in messages] for name in names])
        return [pk for pk, status in cursor.fetchall() if status == Status.PENDING]


def _new_escalations(sweep_id: uuid.UUID) -> list[NewEscalation]:
    """The rows this sweep inserted, as plain values (one SELECT)."""
    rows = (
        Escalation.objects.filter(sweep_id=sweep_id)
        .order_by("case_id", "level")
        .values_list(
            "pk",
            "case_id",
            "level",
            "deadline_seq",
            "deadline_kind",
            "department_id",
            "township_id",
            "case__number",
            "department__supervisor_emails",
        )
    )
    return [
        NewEscalation(*row[:-1], [a.strip() for a in (row[-1] or "").split(";") if a.strip()])
        for row in rows
    ]


def _sweep_in_transaction(result: SweepResult) -> None:
    now, sweep_id = result.now, result.sweep_id
    for level in RUNG_COLUMNS:
        _insert_rung(level, now=now, sweep_id=sweep_id)
    new = _new_escalations(sweep_id)
    result.rows = new
    if not new:
        return
    _raise_case_levels(sweep_id)
    addresses, languages = _recipients(new)
    result.recipients = addresses
    _write_audit(new, addresses, now=now, sweep_id=sweep_id)
    # Stamped last, just before the commit: `next_attempt_at` is when a delivery should
    # start at the latest, so a row must not look overdue before it could be delivered.
    messages = _messages(new, addresses, languages, created_at=timezone.now())
    result.messages = len(messages)
    if result.dry_run:
        result.escalations  # noqa: B018 (loaded now: the rollback will take the rows away)
        return
    outbox.schedule_delivery(_write_messages(messages))


def escalation_sweep(*, now: datetime | None = None, dry_run: bool = False) -> SweepResult:
    """Escalate every case whose next rung is due at `now`, exactly once per
    (case, deadline, level), and queue the emails for delivery after the commit.

    With `dry_run` the same statements run and are rolled back: the result says what would
    have escalated and to whom; nothing is changed and nothing is sent. Otherwise the sweep
    also re-queues outbox messages left pending too long, and records itself in `SweepRun`.
    Safe to run in several processes at once.
    """
    now = now or timezone.now()
    result = SweepResult(sweep_id=uuid.uuid4(), now=now, dry_run=dry_run)
    run = None if dry_run else SweepRun.objects.create(started_at=timezone.now(), clock=now)
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
    result.requeued = len(outbox.requeue_stuck(now=run.started_at))
    # The heartbeat only needs recent history: one row a minute would grow without end.
    SweepRun.objects.filter(started_at__lt=timezone.now() - SWEEP_HISTORY).delete()
    SweepRun.objects.filter(pk=run.pk).update(
        finished_at=timezone.now(),
        escalated=result.escalated_count,
        reminded=result.reminded_count,
        messages=result.messages,
        requeued=result.requeued,
    )
    if result.rows:
        logger.info(
            "Sweep %s: %d escalation(s), %d reminder(s), %d email(s).",
            sweep_id_short(result),
            result.escalated_count,
            result.reminded_count,
            result.messages,
        )
    return result


def sweep_id_short(result: SweepResult) -> str:
    return result.sweep_id.hex[:8]
