"""The overdue sweep and the escalation ladder (SPEC §4).

`escalation_sweep` is a fixed handful of statements whatever the number of cases:

1. per rung (reminder, levels 1–3) one `INSERT … SELECT … ON CONFLICT DO NOTHING` over
   the partial indexes of cases whose clock runs, tagging new rows with this sweep's id;
2. one SELECT takes back the rows this sweep inserted (another sweep's rows are not ours);
3. one UPDATE raises `Case.escalation_level` (a derived counter: it does not touch the
   case's `version`, so a liaison acting at the same moment is not told the case changed);
4. a few SELECTs resolve recipients and the last timeline steps for all of them at once;
5. one INSERT of audit rows and one of outbox messages, delivered after the commit.

The unique (case, deadline_seq, level) constraint makes each rung happen once: a second
sweep at the same moment waits on the first's uncommitted rows, then inserts nothing. Only
the current clock columns are compared, and they are NULL when the clock is stopped
(resolved, closed, cancelled) or paused (suspended), so those cases never escalate.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.db import connection, transaction
from django.db.models import F, Max, OuterRef, Q, Subquery, Window
from django.db.models.functions import Lower, RowNumber
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
from departments.calendar import get_calendar
from departments.models import User

logger = logging.getLogger(__name__)

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


@dataclass
class SweepResult:
    sweep_id: uuid.UUID
    now: datetime
    dry_run: bool
    escalations: list[Escalation] = field(default_factory=list)
    recipients: dict[int, list[str]] = field(default_factory=dict)  # escalation pk → addresses
    messages: int = 0
    requeued: int = 0

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
            "escalated": len(self.escalated),
            "reminded": len(self.reminded),
            "messages": self.messages,
            "requeued": self.requeued,
        }


# -- signed acknowledge links -----------------------------------------------------------


class AckLinkError(Exception):
    """A link that is not one of ours, was altered, or has expired."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason  # "expired" or "invalid"


def ack_token(*, escalation_pk: int, address: str) -> str:
    """A signed, timestamped token naming the escalation and the address it was sent to."""
    return signing.dumps({"e": escalation_pk, "a": address}, salt=ACK_SALT, compress=True)


def read_ack_token(token: str, *, max_age: timedelta = ACK_MAX_AGE) -> tuple[int, str]:
    """(escalation pk, address) from a token; AckLinkError if altered or too old."""
    try:
        data = signing.loads(token, salt=ACK_SALT, max_age=max_age)
    except signing.SignatureExpired as error:
        raise AckLinkError("expired") from error
    except signing.BadSignature as error:
        raise AckLinkError("invalid") from error
    try:
        return int(data["e"]), str(data["a"])
    except (KeyError, TypeError, ValueError) as error:
        raise AckLinkError("invalid") from error


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


def _recipients(new: list[Escalation]) -> tuple[dict[int, list[str]], dict[str, str]]:
    """Addresses per escalation, and each known address's language, with one query.

    Reminder: the owning department's liaisons (the township's dispatchers for the pool).
    Level 1: the department's supervisor_emails (the township's supervisors for the pool).
    Level 2: the township's supervisors. Level 3: district supervisors (no township).
    A rung with nobody to tell goes to the next rung's people rather than to no one."""
    department_ids = {e.department_id for e in new if e.department_id}
    township_ids = {e.township_id for e in new}
    listed = {
        address.lower()
        for e in new
        if e.department_id
        for address in e.department.supervisor_email_list
    }
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

    def rung(level: int, e: Escalation) -> list[str]:
        if level == EscalationLevel.REMINDER:
            return liaisons[e.department_id] if e.department_id else dispatchers[e.township_id]
        if level == EscalationLevel.LEVEL_1 and e.department_id:
            return e.department.supervisor_email_list
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
                e.pk, e.case.number, e.level,
            )
        addresses[e.pk] = unique
    return addresses, languages


def _timelines(case_ids: set[int]) -> dict[int, list[CaseEvent]]:
    """The last few audit rows of each case, in one query (a window function)."""
    rows = (
        CaseEvent.objects.filter(case_id__in=case_ids)
        .annotate(
            rank=Window(
                RowNumber(), partition_by=[F("case_id")], order_by=[F("at").desc(), F("id").desc()]
            )
        )
        .filter(rank__lte=TIMELINE_STEPS)
        .select_related("actor")
    )
    timelines = defaultdict(list)
    for event in rows:
        timelines[event.case_id].append(event)
    return timelines


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


def _messages(
    new: list[Escalation],
    addresses: dict[int, list[str]],
    languages: dict[str, str],
    *,
    now: datetime,
    created_at: datetime,
) -> list[OutboxMessage]:
    calendar = get_calendar()
    timelines = _timelines({e.case_id for e in new})
    messages = []
    for e in new:
        for address in addresses[e.pk]:
            language = languages.get(address.lower(), settings.LANGUAGE_CODE)
            error = ""
            try:
                kind, subject, text, html = _render(
                    e,
                    address,
                    language,
                    now=now,
                    timeline=timelines.get(e.case_id, []),
                    calendar=calendar,
                )
            except Exception as failure:  # one bad case must not stop the whole sweep
                logger.exception("Escalation %s: rendering failed, sending a bare email.", e.pk)
                error = f"Rendering failed, sent a bare email: {type(failure).__name__}: {failure}"
                kind, subject, text, html = _bare_email(e)
            message = outbox.build_message(
                to=address,
                subject=subject,
                text=text,
                html=html,
                kind=kind,
                dedupe_key=f"escalation:{e.pk}:{address.lower()}",
                language=language,
                case=e.case,
                escalation=e,
                now=created_at,
            )
            message.last_error = message.last_error or error
            messages.append(message)
    return messages


def _sweep_in_transaction(result: SweepResult) -> None:
    now, sweep_id = result.now, result.sweep_id
    for level in RUNG_COLUMNS:
        _insert_rung(level, now=now, sweep_id=sweep_id)
    new = list(
        Escalation.objects.filter(sweep_id=sweep_id)
        .select_related(
            "case__category", "case__cell", "case__township", "department", "township"
        )
        .order_by("case__number", "level")
    )
    result.escalations = new
    if not new:
        return
    _raise_case_levels(sweep_id)
    addresses, languages = _recipients(new)
    result.recipients = addresses
    # Render before writing this sweep's audit rows, so the emails show the steps before it.
    messages = _messages(new, addresses, languages, now=now, created_at=timezone.now())
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
    if result.dry_run:
        result.messages = len(messages)
    else:
        result.messages = len(outbox.enqueue_many(messages))


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
    result.requeued = len(outbox.requeue_stuck())
    # The heartbeat only needs recent history: one row a minute would grow without end.
    SweepRun.objects.filter(started_at__lt=timezone.now() - SWEEP_HISTORY).delete()
    SweepRun.objects.filter(pk=run.pk).update(
        finished_at=timezone.now(),
        escalated=len(result.escalated),
        reminded=len(result.reminded),
        messages=result.messages,
        requeued=result.requeued,
    )
    if result.escalations:
        logger.info(
            "Sweep %s: %d escalation(s), %d reminder(s), %d email(s).",
            sweep_id_short(result), len(result.escalated), len(result.reminded), result.messages,
        )
    return result


def sweep_id_short(result: SweepResult) -> str:
    return result.sweep_id.hex[:8]
