"""Sending one outbox row (`deliver`): the row locked, an escalation's email rendered,
sent over SMTP, and the outcome recorded: sent, retried later with exponential backoff,
failed for good, or left out as outdated. Called by the worker's tasks and, for a command
run by hand, by `foreground.deliver_now`."""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.utils import timezone

from cases.models import OutboxMessage
from cases.services.outbox.enqueue import mail_domain
from cases.services.outbox.outdated import ARBITRATION_KIND, outdated_messages

logger = logging.getLogger(__name__)

Status = OutboxMessage.Status


def max_attempts() -> int:
    return int(getattr(settings, "OUTBOX_MAX_ATTEMPTS", 20))


def retry_delay(attempts: int) -> int:
    """Seconds to wait after the `attempts`-th failed try: 30 s, 1 min, 2 min… up to 15 min,
    so twenty tries cover several hours of a mail server being down."""
    base = int(getattr(settings, "OUTBOX_RETRY_BASE_SECONDS", 30))
    cap = int(getattr(settings, "OUTBOX_RETRY_MAX_SECONDS", 900))
    return min(cap, base * 2 ** max(0, attempts - 1))


def case_thread_id(case_pk: int) -> str:
    """The Message-ID every email about one case replies to, so that mail clients show a
    case's reminder and escalations as one thread. No message carries it itself: like
    GitHub's notifications, the thread's root is named, never sent."""
    return f"<case.{case_pk}@{mail_domain()}>"


# How early a retry may run: its task is due when the row's `next_attempt_at` is, on the
# clock of the worker that scheduled it.
RETRY_EARLY_GRACE = timedelta(seconds=1)


@dataclass(frozen=True)
class Delivery:
    outcome: str  # "sent", "retry", "failed", "outdated", "skipped"
    retry_in: int | None = None
    # Why the mail server could not be reached ("" when it answered): the next message
    # would only wait for it as long again.
    unreachable: str = ""


def _is_permanent(error: Exception) -> bool:
    """5xx answers are the server saying no for good; anything else may pass later."""
    if isinstance(error, (smtplib.SMTPAuthenticationError, smtplib.SMTPSenderRefused)):
        # Our own configuration (a password changed on one side, a sender address the server
        # will not take): every message fails alike until an operator mends it, and the
        # retries then send them, where failing them would leave each to be sent by hand.
        return False
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _msg in error.recipients.values()]
        return bool(codes) and all(500 <= code < 600 for code in codes)
    if isinstance(error, smtplib.SMTPResponseException):
        return 500 <= error.smtp_code < 600
    return False


def _is_unreachable(error: Exception) -> bool:
    """The mail server did not answer at all (connection refused or dropped, a timeout, a
    name that does not resolve, a TLS handshake that fails, 421 "service not available"),
    as opposed to an answer about this one message."""
    if isinstance(error, (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError)):
        return True  # smtplib turns a read that timed out into SMTPServerDisconnected
    if isinstance(error, smtplib.SMTPResponseException):
        return error.smtp_code == 421
    if isinstance(error, smtplib.SMTPException):
        return False  # an SMTPException is an OSError too
    return isinstance(error, OSError)


def _send(message: OutboxMessage) -> None:
    email = EmailMultiAlternatives(
        subject=message.subject,
        body=message.text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[message.to],
        headers={"Message-ID": message.message_id, "Auto-Submitted": "auto-generated"},
        connection=get_connection(fail_silently=False),
    )
    if message.language:
        email.extra_headers["Content-Language"] = message.language
    if message.case_id is not None:
        thread = case_thread_id(message.case_id)
        email.extra_headers.update({"In-Reply-To": thread, "References": thread})
    if message.html:
        email.attach_alternative(message.html, "text/html")
    email.send(fail_silently=False)


def deliver(*, message_pk: int, now: datetime | None = None, foreground: bool = False) -> Delivery:
    """Send one outbox message if it is still pending, and record the outcome. An
    escalation or reminder whose case has moved on from its deadline is not sent at all.
    `foreground`: called by a command (`deliver_now`), which retries nothing itself.

    The row stays locked while it is sent, so a second copy of the task waits for the
    first and then finds it `sent`, or skips it at once if it cannot get the lock. A copy
    that comes before a retry is due skips it too: one retry chain per message, however
    often its task is delivered, so the attempts are spread as `retry_delay` spreads them."""
    with transaction.atomic():
        message = (
            OutboxMessage.objects.select_for_update(skip_locked=True).filter(pk=message_pk).first()
        )
        if message is None or message.status != Status.PENDING:
            return Delivery("skipped")
        now = now or timezone.now()
        if message.attempts and message.next_attempt_at > now + RETRY_EARLY_GRACE:
            # A copy of a retry that is not due yet (a task delivered twice, or re-queued
            # while its retry waited): the task due then makes that attempt. Trying here too
            # would start a second retry chain, and each chain spends the attempt budget.
            return Delivery("skipped")
        watched = message.escalation_id or message.kind == ARBITRATION_KIND
        if watched and outdated_messages([message.pk]):
            # Late (a retry after the mail server came back, or a backlog): the case has
            # moved on from the deadline or the arbitration the email calls its reader to.
            message.status = Status.OUTDATED
            message.save(update_fields=["status"])
            logger.info(
                "Outbox message %s to %s not sent: its case moved on since it was written.",
                message.pk,
                message.to,
            )
            return Delivery("outdated")
        message.attempts += 1
        rendered = []
        if message.escalation_id and not message.text:
            # An escalation's email is rendered here, just before it is first sent, not in
            # the sweep; once rendered it is kept, so every attempt sends the same email.
            from cases.services.escalation_mail import render_message

            message.last_error = render_message(message)
            rendered = ["subject", "text", "html", "last_error"]
        try:
            _send(message)
        except Exception as error:  # SMTP, socket and DNS errors alike
            message.last_error = f"{type(error).__name__}: {error}"[:2000]
            # Whether this message fails for good or waits, the next one would wait as long.
            unreachable = message.last_error if _is_unreachable(error) else ""
            if _is_permanent(error) or message.attempts >= max_attempts():
                message.status = Status.FAILED
                message.save(update_fields=["attempts", "last_error", "status", *rendered])
                logger.error(
                    "Outbox message %s to %s failed for good after %d attempt(s): %s",
                    message.pk,
                    message.to,
                    message.attempts,
                    message.last_error,
                )
                return Delivery("failed", unreachable=unreachable)
            delay = retry_delay(message.attempts)
            message.next_attempt_at = now + timedelta(seconds=delay)
            message.save(update_fields=["attempts", "last_error", "next_attempt_at", *rendered])
            # The worker's task retries after `delay`; a command retries nothing, and the
            # row waits for a sweep's `requeue_stuck` (`requeue_after()` past the delay).
            later = (
                "left in the outbox; the worker's requeue sends it later"
                if foreground
                else f"retrying in {delay} s"
            )
            logger.warning(
                "Outbox message %s to %s not sent (attempt %d), %s: %s",
                message.pk,
                message.to,
                message.attempts,
                later,
                message.last_error,
            )
            return Delivery("retry", retry_in=delay, unreachable=unreachable)
        message.status = Status.SENT
        message.sent_at = timezone.now()
        message.save(update_fields=["attempts", "status", "sent_at", *rendered])
        return Delivery("sent")
