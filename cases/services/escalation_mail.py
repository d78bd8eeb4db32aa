"""Who hears of an escalation, and what the email says (SPEC §4).

The sweep (cases/services/escalation.py) resolves the recipients once per group of
escalations with `group_recipients`; each outbox row is rendered just before delivery by
`render_message`, in the recipient's language, as of the sweep's clock.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime
from typing import TYPE_CHECKING

from django.conf import settings
from django.db.models import Q
from django.db.models.functions import Lower

from cases import emails
from cases.models import CaseEvent, Escalation, EscalationLevel, OutboxMessage
from cases.services.acknowledgement import ACK_MAX_AGE, ack_url
from departments.calendar import get_calendar
from departments.models import User
from governance.links import site_url

if TYPE_CHECKING:
    from cases.services.escalation import EscalationGroup

logger = logging.getLogger(__name__)

# Audit rows of the case's story told in an escalation email.
TIMELINE_STEPS = 3


def group_recipients(groups: list[EscalationGroup]) -> tuple[dict, dict[str, str]]:
    """Addresses per group, and each known address's language, with one query.

    Reminder: the owning department's liaisons (the township's dispatchers for the pool).
    Level 1: the department's supervisor_emails (the township's supervisors for the pool).
    Level 2: the township's supervisors. Level 3: district supervisors (no township).
    A level with nobody to tell goes to the next level's people rather than to no one; a
    reminder with nobody to tell goes to no one (and is logged), not up to supervisors."""
    department_ids = {g.department_id for g in groups if g.department_id}
    township_ids = {g.township_id for g in groups}
    listed = {a.lower() for g in groups if g.department_id for a in g.supervisor_emails}
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

    def rung(level: int, g: EscalationGroup) -> list[str]:
        if level == EscalationLevel.REMINDER:
            return liaisons[g.department_id] if g.department_id else dispatchers[g.township_id]
        if level == EscalationLevel.LEVEL_1 and g.department_id:
            return list(g.supervisor_emails)
        if level in (EscalationLevel.LEVEL_1, EscalationLevel.LEVEL_2):
            return township_supervisors[g.township_id]
        return district

    addresses = {}
    for g in groups:
        found: list[str] = []
        for level in range(g.level, EscalationLevel.LEVEL_3 + 1):
            found = rung(level, g)
            if found or g.level == EscalationLevel.REMINDER:
                break
        unique: dict[str, str] = {}  # one address once, whatever its letter case
        for address in filter(None, (a.strip() for a in found)):
            unique.setdefault(address.lower(), address)
        addresses[g.key] = list(unique.values())
        if not unique:
            logger.warning(
                "%d escalation(s) at level %s (department %s, township %s) have nobody to tell.",
                g.count,
                g.level,
                g.department_id,
                g.township_id,
            )
    return addresses, languages


def told_as(e: Escalation, address: str) -> int:
    """The rung whose people `address` was told as, for the email's "why you" line: a
    rung with nobody to tell falls through to the next (`group_recipients`), and township
    leaders told of a department's level 1 do not supervise that department."""
    address = address.strip().lower()
    if e.level == EscalationLevel.LEVEL_3:
        return EscalationLevel.LEVEL_3
    listed = {a.lower() for a in e.department.supervisor_email_list} if e.department_id else ()
    if e.level == EscalationLevel.LEVEL_1 and address in listed:
        return EscalationLevel.LEVEL_1
    township_leader = (
        User.objects.supervisors_to_mail(township_id=e.township_id)
        .filter(email__iexact=address)
        .exists()
    )
    if not township_leader:
        return EscalationLevel.LEVEL_3
    # The pool's level 1 goes to its township's leaders: they do supervise its owner.
    return e.level if not e.department_id else EscalationLevel.LEVEL_2


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
        told_as=told_as(e, address),
        ack_days=ACK_MAX_AGE.days,
    )


def _bare_email(e: Escalation) -> tuple[str, str, str, str]:
    """A template-free email, for when rendering the real one failed: people still hear of
    the escalation, and the failure is in the log and on the outbox row."""
    case_url = site_url("cases:detail", args=[e.case.number])
    if e.level == EscalationLevel.REMINDER:
        subject = f"[{e.case.number}] due soon"
        return "reminder", subject, f"{subject}.\n{case_url}\n", ""
    subject = f"[{e.case.number}] level {e.level} escalation"
    return "escalation", subject, f"{subject}.\n{case_url}\n", ""


def render_message(message: OutboxMessage) -> str:
    """Fill in the subject, text and HTML of an escalation's outbox row, in the
    recipient's language, as of the sweep's clock (the escalation's `created_at`).

    Called by the delivery (`outbox.sending.deliver`) with the row locked, just before it is sent:
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
