"""The transactional email outbox: write the message in the transaction that causes it,
deliver it after the commit, exactly once in effect.

How to send an email from a service (invitations, extension requests, escalations…):

    with transaction.atomic():
        ...change the database...
        outbox.enqueue_email(
            to="someone@example.org",
            subject=subject, text=text, html=html,        # e.g. from cases.emails.render()
            kind="invitation",                            # a short label, for the admin
            dedupe_key=f"invitation:{user.pk}:{token_id}",  # the same key never sends twice
        )

Guarantees:
- The row is written in the caller's transaction: if the change rolls back, no email.
- A delivery task is handed to Celery only after the commit (`transaction.on_commit`);
  the web request never waits for a broker that is down: the row stays `pending` and the
  escalation sweep re-queues pending rows whose delivery is overdue (`requeue_stuck`).
- Delivery (`deliver`) locks the row, sends, and marks it `sent` in one transaction, so
  a task delivered twice, or re-queued while its first copy still runs, sends once.
  Temporary SMTP failures are retried with exponential backoff; an address the server
  rejects for good marks the row `failed` with the server's answer in `last_error`.
- Each row carries a stable `Message-ID`, the same on every attempt.
- A row that failed for good is sent again only when someone asks (`outbox_messages_resend`,
  the admin's "Send again"): back to `pending` with a fresh attempt budget, delivered
  through the same `publish` and `deliver` as a new row.
- A command run by hand (`escalate_overdue`, `import_users`) sends its messages itself
  (`deliver_now`), through the same `deliver`: it does not wait for a worker to be up.
  It stops at the first message the mail server does not answer (refused, timed out,
  dropped): the rest stay pending in the outbox, for the worker, and for the sweep's
  re-queue; one EMAIL_TIMEOUT per message, one after another, took hours for a district.
  The worker's batch task (`cases.deliver_outbox_messages`) stops the same way, and
  leaves the rest of its batch to the sweep's re-queue.
- An escalation's row is written unrendered by the sweep (address, language, escalation);
  `deliver` renders it with the row locked, keeps the rendering on the row, and sends it.
  After its commit the sweep queues one task (`publish_sweep`), which streams the sweep's
  pending rows and queues their delivery in batches: a sweep writes tens of thousands of
  messages, and neither its time nor its memory should grow with queuing them.

cases/tasks.py imports this module, so the functions here import the tasks when called.
"""

from __future__ import annotations

import hashlib
import logging
import smtplib
import uuid
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parseaddr
from itertools import islice

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Case as SqlCase
from django.db.models import F, Q, Value, When
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from cases.models import Case, Escalation, OutboxMessage, State
from cases.models.case import ARBITRATION_RETURNS
from departments.models import User

logger = logging.getLogger(__name__)

Status = OutboxMessage.Status


def _setting(name: str, default):
    return getattr(settings, name, default)


def max_attempts() -> int:
    return int(_setting("OUTBOX_MAX_ATTEMPTS", 20))


def retry_delay(attempts: int) -> int:
    """Seconds to wait after the `attempts`-th failed try: 30 s, 1 min, 2 min… up to 15 min,
    so twenty tries cover several hours of a mail server being down."""
    base = int(_setting("OUTBOX_RETRY_BASE_SECONDS", 30))
    cap = int(_setting("OUTBOX_RETRY_MAX_SECONDS", 900))
    return min(cap, base * 2 ** max(0, attempts - 1))


def requeue_after() -> timedelta:
    """How long past its due moment a pending row may wait before it counts as lost."""
    return timedelta(seconds=int(_setting("OUTBOX_REQUEUE_AFTER_SECONDS", 300)))


def mail_domain() -> str:
    domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2]
    return domain or "localhost"


def new_message_id(kind: str) -> str:
    return f"<{kind}.{uuid.uuid4().hex}@{mail_domain()}>"


def case_thread_id(case_pk: int) -> str:
    """The Message-ID every email about one case replies to, so that mail clients show a
    case's reminder and escalations as one thread. No message carries it itself: like
    GitHub's notifications, the thread's root is named, never sent."""
    return f"<case.{case_pk}@{mail_domain()}>"


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


def schedule_delivery(message_pks: list[int]) -> None:
    """Hand the messages to Celery once the current transaction commits."""
    if message_pks:
        pks = list(message_pks)
        transaction.on_commit(lambda: publish(pks))


# A broker that does not answer is given two more tries, then the rows wait for the sweep.
RETRY_POLICY = {"max_retries": 2, "interval_start": 0.2}


def schedule_sweep_delivery(sweep_id: uuid.UUID) -> None:
    """Once the sweep's transaction commits, queue the task that queues its messages."""
    transaction.on_commit(lambda: _queue_sweep(sweep_id))


def _queue_sweep(sweep_id: uuid.UUID) -> None:
    from cases.tasks import queue_sweep_messages

    try:
        queue_sweep_messages.apply_async((str(sweep_id),), retry=True, retry_policy=RETRY_POLICY)
    except Exception:  # the broker, whatever its client raises
        logger.warning(
            "Could not queue the messages of sweep %s; the sweep will re-queue them.",
            sweep_id,
            exc_info=True,
        )


# How many ids of a sweep's messages are read from the database at a time.
SWEEP_PAGE = 5000


def sweep_pending_pks(sweep_id: uuid.UUID | str) -> Iterator[int]:
    """The ids of one sweep's pending messages, read a page at a time from a server-side
    cursor: a sweep writes tens of thousands.

    Read through the sweep's escalations with no other condition and in no order: the
    sweep has only just written its rows, so the planner's statistics know none of them,
    and it expects a handful. With `status = 'pending'` in the query it intersected the
    whole pending index once per escalation, and with ORDER BY it compared every message
    with every escalation of the sweep; both grow with the square of a big sweep (over 20
    minutes at 1,000,000 cases in the bench). Joined from the sweep's escalations, each
    finds its messages by index, in time linear in the sweep, whatever the statistics
    say; the status is checked here."""
    rows = (
        OutboxMessage.objects.filter(escalation__sweep_id=sweep_id)
        .order_by()
        .values_list("pk", "status")
        .iterator(chunk_size=SWEEP_PAGE)
    )
    return (pk for pk, status in rows if status == Status.PENDING)


def publish_sweep(sweep_id: uuid.UUID | str) -> int:
    """Queue the delivery of one sweep's pending messages (`publish`). Returns how many
    were queued."""
    return sum(publish(page) for page in _pages(sweep_pending_pks(sweep_id), SWEEP_PAGE))


def _pages(items: Iterable[int], size: int) -> Iterator[list[int]]:
    iterator = iter(items)
    while page := list(islice(iterator, size)):
        yield page


def batch_size() -> int:
    return int(_setting("OUTBOX_BATCH_SIZE", 100))


def publish(message_pks: Iterable[int]) -> int:
    """Queue the messages' delivery: one task for a single message, one task per batch of
    `batch_size()` messages otherwise (a broker round trip per batch, not per message). The
    task bodies carry row ids only. A broker that is down is logged, not raised: the rows
    stay pending and the sweep re-queues them. Returns how many messages were queued."""
    from cases.tasks import deliver_outbox_messages

    batches = _pages(message_pks, max(1, batch_size()))
    queued = 0
    try:
        # One producer from the pool for every batch: a sweep queues hundreds.
        with deliver_outbox_messages.app.producer_or_acquire() as producer:
            for batch in batches:
                try:
                    _queue_batch(batch, producer)
                    queued += len(batch)
                except Exception:  # the broker, whatever its client raises
                    _log_not_queued(batch)
    except Exception:  # no producer: the broker could not be reached at all
        # Every batch taken so far was queued or logged; the rest were never tried.
        if rest := [pk for batch in batches for pk in batch]:
            _log_not_queued(rest)
    return queued


def _queue_batch(batch: list[int], producer) -> None:
    from cases.tasks import deliver_outbox_messages, send_outbox_message

    if len(batch) == 1:
        send_outbox_message.apply_async(
            (batch[0],), producer=producer, retry=True, retry_policy=RETRY_POLICY
        )
    else:
        # A short argsrepr for logs and monitoring: Celery's own repr of a hundred ids
        # cost a sweep more than the rest of the message.
        deliver_outbox_messages.apply_async(
            (batch,),
            argsrepr=f"[{len(batch)} outbox ids from {batch[0]}]",
            producer=producer,
            retry=True,
            retry_policy=RETRY_POLICY,
        )


def _log_not_queued(pks: list[int]) -> None:
    logger.warning(
        "Could not queue %d outbox message(s) from %s; the sweep will re-queue them.",
        len(pks),
        pks[0],
        exc_info=True,
    )


def requeue_stuck(*, now: datetime | None = None, limit: int = 1000) -> list[int]:
    """Re-queue pending messages whose delivery is overdue by `requeue_after()` (a lost
    broker message, a killed worker, a broker that was down at commit time).

    Rows a delivery holds locked right now are skipped. A row re-queued here is not
    re-queued again for another `requeue_after()`. Returns the re-queued ids."""
    now = now or timezone.now()
    with transaction.atomic():
        pks = list(
            OutboxMessage.objects.select_for_update(skip_locked=True)
            .filter(status=Status.PENDING, next_attempt_at__lt=now - requeue_after())
            .order_by("next_attempt_at")
            .values_list("pk", flat=True)[:limit]
        )
        if pks:
            OutboxMessage.objects.filter(pk__in=pks).update(next_attempt_at=now)
            logger.warning("Re-queueing %d outbox message(s) left pending too long.", len(pks))
            schedule_delivery(pks)
    return pks


def postpone(message_pks: list[int], *, seconds: int, now: datetime | None = None) -> None:
    """Move the pending messages' next attempt `seconds` on (a batch handed on past a silent
    mail server): the sweep's re-queue of stuck rows then leaves them to that batch."""
    now = now or timezone.now()
    OutboxMessage.objects.filter(pk__in=message_pks, status=Status.PENDING).update(
        next_attempt_at=now + timedelta(seconds=seconds)
    )


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
        if watched and _outdated_messages([message.pk]):
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


# How often `deliver_now` reports its progress, in messages, and the command's words.
PROGRESS_EVERY = 500
PROGRESS_LINE = gettext_lazy("… %(count)d emails sent")


@dataclass
class ForegroundDelivery:
    """What `deliver_now` did."""

    # How many were "sent", "retry" (left pending for a later attempt), "failed",
    # "outdated" and "skipped".
    outcomes: Counter[str]
    # Why it stopped (the mail server's error), "" when the server answered every message.
    unreachable: str = ""
    # The messages it left pending in the outbox when it stopped: the one the server did
    # not answer (unless that was its last attempt: then it failed) and those not tried.
    left: int = 0


def deliver_now(
    message_pks: Iterable[int], *, progress: Callable[[int], None] | None = None
) -> ForegroundDelivery:
    """Deliver these messages here and now, one after another, for a command run by hand
    that must not depend on a worker being up. Each goes through `deliver`, as in the
    worker: a message the worker is sending meanwhile is skipped here and sent once.

    The first message the mail server does not answer stops it, on its last attempt too:
    the others would each wait EMAIL_TIMEOUT for the same silence. They stay pending in the
    outbox, as queued after their commit, and the sweep re-queues them if no worker sends
    them (`requeue_stuck`). `progress` is called with the count every PROGRESS_EVERY
    messages."""
    run = ForegroundDelivery(outcomes=Counter())
    pks = iter(message_pks)
    for done, pk in enumerate(pks, start=1):
        delivery = deliver(message_pk=pk, foreground=True)
        run.outcomes[delivery.outcome] += 1
        if delivery.unreachable:
            run.unreachable = delivery.unreachable
            run.left = (delivery.outcome == "retry") + sum(1 for _pk in pks)
            logger.warning(
                "The mail server could not be reached (%s); %d outbox message(s) "
                "left in the outbox, for the worker.",
                delivery.unreachable,
                run.left,
            )
            break
        if progress is not None and done % PROGRESS_EVERY == 0:
            progress(done)
    return run


def unreachable_server_words(run: ForegroundDelivery) -> str:
    """For a command's output: the mail server that did not answer `deliver_now` and, when
    that stopped the sending, how many emails it left in the outbox; "" when the server
    answered every message."""
    if not run.unreachable:
        return ""
    if not run.left:  # the last email, on its last attempt: nothing waits
        return _("The mail server could not be reached (%(error)s).") % {"error": run.unreachable}
    return ngettext(
        "The mail server could not be reached (%(error)s), so sending stopped: "
        "%(left)d email is left in the outbox, queued for the worker, which sends it "
        "once the server answers.",
        "The mail server could not be reached (%(error)s), so sending stopped: "
        "%(left)d emails are left in the outbox, queued for the worker, which sends "
        "them once the server answers.",
        run.left,
    ) % {"error": run.unreachable, "left": run.left}


def delivery_summary(outcomes: Counter[str]) -> str:
    """`deliver_now`'s outcomes in one line, for a command's output. Outdated emails are
    named only when there are some: only escalations can be, and only when late."""
    counts = {name: outcomes[name] for name in ("sent", "failed", "outdated", "retry", "skipped")}
    if counts["outdated"]:
        template = _(
            "sent %(sent)d, failed %(failed)d, not sent as their cases moved on %(outdated)d, "
            "left for a worker to retry %(retry)d, taken by a worker %(skipped)d"
        )
    else:
        template = _(
            "sent %(sent)d, failed %(failed)d, left for a worker to retry %(retry)d, "
            "taken by a worker %(skipped)d"
        )
    return template % counts


@dataclass(frozen=True)
class Resend:
    """What `outbox_messages_resend` did with a selection of messages."""

    resent: list[int]  # set back to pending and queued for delivery
    not_failed: int  # pending or sent: left as they were
    bad_addresses: list[str]  # failed because the address is none: left failed
    outdated: int = 0  # emails of a case moved on since (`_outdated_messages`): left failed


def outbox_messages_resend(
    *, message_pks: Collection[int], actor: User, now: datetime | None = None
) -> Resend:
    """Send failed messages again: set them back to `pending` with a fresh attempt budget
    (`attempts` 0, due now) and deliver them after the commit through `schedule_delivery`,
    the path of every new row; the sweep re-queues them if the broker is down.

    Only rows that are `failed` change, so a pending or sent message is never sent twice,
    and only those whose address is an email address (another try could not help the
    others). An escalation or reminder whose case has since moved on from that deadline
    (acted on, closed or cancelled: the sweep keeps watching the one it is on now) stays
    failed too: sent late, it would call a supervisor to a case that no longer waits.
    The failed rows of the selection are locked, then set back in one UPDATE:
    two people pressing at once re-queue each row once. The Message-ID stays the same.
    Each row's admin history records who sent it again, in the same transaction."""
    now = now or timezone.now()
    selected = set(message_pks)
    with transaction.atomic():
        failed = list(
            OutboxMessage.objects.select_for_update()
            .filter(pk__in=selected, status=Status.FAILED)
            .order_by("pk")
            .values_list("pk", "to")
        )
        bad_addresses = [to for _pk, to in failed if address_error(to)]
        deliverable = [pk for pk, to in failed if not address_error(to)]
        outdated = _outdated_messages(deliverable)
        resent = [pk for pk in deliverable if pk not in outdated]
        if resent:
            # An escalation's text carries an acknowledge link signed when it was first
            # rendered: emptied, it renders again with a link good for 14 days from now
            # (the words stay those of the sweep's clock).
            rendered_again = {
                body: SqlCase(
                    When(escalation__isnull=False, then=Value("")),
                    default=F(body),
                    output_field=OutboxMessage._meta.get_field(body),
                )
                for body in ("text", "html")
            }
            OutboxMessage.objects.filter(pk__in=resent).update(
                status=Status.PENDING, attempts=0, next_attempt_at=now, **rendered_again
            )
            _log_resend(actor, resent)
            schedule_delivery(resent)
    return Resend(
        resent=resent,
        not_failed=len(selected) - len(failed),
        bad_addresses=bad_addresses,
        outdated=len(outdated),
    )


# The outbox kind of the email calling a case's arbiters (`cases.services.arbitration_mail`).
ARBITRATION_KIND = "arbitration"


def _outdated_messages(message_pks: list[int]) -> set[int]:
    """Of these messages, those whose case no longer waits as the email says: escalations
    and reminders of a deadline their case is no longer on (every fresh deadline numbers
    itself, `deadline_seq`; a case off the clock has no deadline kind; a suspended case's
    paused clock has no due moment), and arbitration requests of a case a supervisor has
    arbitrated since (or that left the pool otherwise)."""
    on_its_deadline = (
        Q(escalation__deadline_seq=F("escalation__case__deadline_seq"))
        & ~Q(escalation__case__deadline_kind="")
        & Q(escalation__case__due_at__isnull=False)
    )
    waits_for_arbitration = Q(case__state=State.FALLBACK) & Q(
        case__return_count__gte=ARBITRATION_RETURNS
    )
    outdated = OutboxMessage.objects.filter(pk__in=message_pks).filter(
        Q(escalation__isnull=False) & ~on_its_deadline
        | Q(kind=ARBITRATION_KIND) & ~waits_for_arbitration
    )
    return set(outdated.values_list("pk", flat=True))


def _log_resend(actor: User, message_pks: list[int]) -> None:
    """One admin history entry per message (a single INSERT), in the site's language, as
    Django stores its own change messages."""
    from django.contrib.admin.models import CHANGE, LogEntry

    with translation.override(settings.LANGUAGE_CODE):
        note = _("Sent again: back to pending with a fresh attempt budget.")
    LogEntry.objects.log_actions(
        user_id=actor.pk,
        queryset=OutboxMessage.objects.filter(pk__in=message_pks).only(
            "pk", "kind", "to", "status"
        ),
        action_flag=CHANGE,
        change_message=note,
    )
