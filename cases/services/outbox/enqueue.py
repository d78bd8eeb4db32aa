"""Writing outbox rows: one message, or many in one INSERT, in the caller's transaction,
with its delivery queued after the commit (`publishing.schedule_delivery`). An address
that is not one is stored `failed` at once; each row gets its stable Message-ID here."""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Iterable
from datetime import datetime
from email.utils import parseaddr

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.encoding import punycode

from cases.models import Case, Escalation, OutboxMessage
from cases.services.outbox.publishing import schedule_delivery

logger = logging.getLogger(__name__)

Status = OutboxMessage.Status


def mail_domain() -> str:
    """The sender's domain, for Message-IDs: in its ASCII form (政务.中国 as xn--…), as
    Django writes it in From; a header cannot carry a msg-id in encoded words."""
    domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2]
    return punycode(domain) if domain else "localhost"


def new_message_id(kind: str) -> str:
    return f"<{kind}.{uuid.uuid4().hex}@{mail_domain()}>"


# The longest address a mail server takes (RFC 5321's 254), and the recipient column's.
ADDRESS_MAX_LENGTH = OutboxMessage._meta.get_field("to").max_length


def address_error(address: str) -> str:
    """Why `address` cannot be sent to, or "" when it is an email address."""
    try:
        validate_email(address)
    except ValidationError:
        return f"Not an email address: {address!r}"
    # Django's check allows 320 characters, more than any mail server or our column takes.
    if len(address) > ADDRESS_MAX_LENGTH:
        return f"Longer than {ADDRESS_MAX_LENGTH} characters: {address!r}"
    return ""


def address_key(address: str) -> str:
    """An address as the last part of a `dedupe_key` (255 characters in all): itself,
    lower-cased, or a digest of a long one, which would not fit after its prefix."""
    address = address.strip().lower()
    if len(address) <= 128:
        return address
    return "sha256:" + hashlib.sha256(address.encode()).hexdigest()


def build_message(
    *,
    to: str,
    subject: str,
    text: str,
    html: str = "",
    kind: str,
    dedupe_key: str,
    language: str = "",
    case: Case | None = None,
    escalation: Escalation | None = None,
    now: datetime | None = None,
) -> OutboxMessage:
    """An unsaved outbox row; an address that is not one is stored as `failed` at once,
    with the reason, instead of being silently dropped."""
    now = now or timezone.now()
    to = (to or "").strip()
    error = address_error(to)
    message = OutboxMessage(
        kind=kind,
        dedupe_key=dedupe_key,
        message_id=new_message_id(kind),
        to=to[:ADDRESS_MAX_LENGTH],
        language=language,
        # Header injection is impossible through Django's mail, but keep subjects one line.
        subject=" ".join(subject.split())[:255],
        text=text,
        html=html,
        case=case,
        escalation=escalation,
        created_at=now,
        next_attempt_at=now,
    )
    if error:
        message.status = Status.FAILED
        message.last_error = error
        logger.error("Outbox %s: %s; the message is marked failed.", kind, error)
    return message


def enqueue_email(**fields) -> OutboxMessage:
    """Write one message (see `build_message` for the arguments) and deliver it after the
    commit. Idempotent: a second call with the same `dedupe_key` returns the first row."""
    return enqueue_many([build_message(**fields)])[0]


def enqueue_many(messages: Iterable[OutboxMessage]) -> list[OutboxMessage]:
    """Write unsaved messages in bulk (one INSERT) and deliver the pending ones after the
    commit. Rows whose `dedupe_key` already exists are left as they were and returned."""
    messages = list(messages)
    if not messages:
        return []
    with transaction.atomic():
        OutboxMessage.objects.bulk_create(messages, ignore_conflicts=True)
        stored = list(OutboxMessage.objects.filter(dedupe_key__in=[m.dedupe_key for m in messages]))
    schedule_delivery([m.pk for m in stored if m.status == Status.PENDING])
    by_key = {m.dedupe_key: m for m in stored}
    return [by_key[m.dedupe_key] for m in messages]
