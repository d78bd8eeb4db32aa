"""Celery tasks: thin callers of the services (SPEC §4).

The sweep and the delivery tasks are safe to run twice or at the same time: the sweep's
inserts are guarded by the escalation's unique constraint, and a delivery locks its outbox
row and skips a row that is no longer pending (so queuing a message twice sends it once).

The email tasks go to Celery's `mail` queue, the others to `celery` (CELERY_TASK_ROUTES
in settings), so that a backlog of emails does not hold up the sweeps.
"""

import logging
import time

from celery import shared_task
from django.utils import timezone

from cases.services import calendar_changes, escalation
from cases.services.figures import figures_refresh
from cases.services.held_photos import held_photos_purge
from cases.services.intake import idempotency_keys_purge
from cases.services.outbox import publishing, sending
from cases.services.privacy import reporters_anonymise
from cases.services.supervision import supervision_refresh

logger = logging.getLogger(__name__)

# A batch stops starting new deliveries after this long and queues the rest again, well
# inside CELERY_TASK_SOFT_TIME_LIMIT even if the last message meets a slow mail server.
BATCH_SECONDS = 120


@shared_task(name="cases.escalate_overdue", acks_late=True, ignore_result=True)
def escalate_overdue() -> dict:
    """One escalation sweep at the current time (the beat schedule runs it every minute)."""
    result = escalation.escalation_sweep(now=timezone.now())
    return result.summary()


@shared_task(name="cases.follow_calendar_changes", acks_late=True, ignore_result=True)
def follow_calendar_changes() -> int:
    """Move the running deadlines across the calendar changes still waiting (queued after
    the commit of one too large to move within the administrator's request)."""
    return calendar_changes.follow_calendar_changes()


@shared_task(name="cases.queue_sweep_messages", acks_late=True, ignore_result=True)
def queue_sweep_messages(sweep_id: str) -> int:
    """Queue the delivery of one sweep's emails in batches (the sweep queues this after its
    commit). Run twice, it queues the still pending ones again, which deliver once."""
    return publishing.publish_sweep(sweep_id)


@shared_task(
    bind=True,
    name="cases.send_outbox_message",
    acks_late=True,
    ignore_result=True,
    max_retries=None,  # the outbox row counts attempts (OUTBOX_MAX_ATTEMPTS)
)
def send_outbox_message(self, message_pk: int) -> str:
    """Deliver one outbox message; on a temporary failure retry with exponential backoff."""
    delivery = sending.deliver(message_pk=message_pk)
    if delivery.retry_in is not None:
        raise self.retry(countdown=delivery.retry_in)
    return delivery.outcome


@shared_task(
    name="cases.deliver_outbox_messages",
    acks_late=True,
    ignore_result=True,
)
def deliver_outbox_messages(message_pks: list[int]) -> dict:
    """Deliver a batch of outbox messages one after the other (what the sweep queues: a
    task per batch, not per message). Each delivery is `sending.deliver`, so a redelivered
    batch sends nothing twice; a message to retry gets its own `send_outbox_message` task
    with the backoff delay. Near the time limit the rest of the batch is queued again.

    The first message the mail server does not answer (refused, timed out, dropped) stops
    the batch, as it stops `foreground.deliver_now`: each next one would wait EMAIL_TIMEOUT for
    the same silence, up to the time limit. The rest, untried, go on as one batch after that
    message's backoff delay, so that they follow it once the server answers again."""
    started = time.monotonic()
    outcomes: dict[str, int] = {}
    for index, pk in enumerate(message_pks):
        if time.monotonic() - started > BATCH_SECONDS:
            publishing.publish(message_pks[index:])
            outcomes["handed_on"] = len(message_pks) - index
            break
        try:
            delivery = sending.deliver(message_pk=pk)
        except Exception:  # one row must not hold up the others; the sweep re-queues it
            logger.exception("Outbox message %s could not be delivered.", pk)
            outcomes["error"] = outcomes.get("error", 0) + 1
            continue
        outcomes[delivery.outcome] = outcomes.get(delivery.outcome, 0) + 1
        if delivery.retry_in is not None:
            try:
                send_outbox_message.apply_async((pk,), countdown=delivery.retry_in)
            except Exception:  # the broker: the row stays pending and is re-queued later
                logger.warning("Could not queue the retry of outbox message %s.", pk)
        if delivery.unreachable:
            rest = message_pks[index + 1 :]
            delay = delivery.retry_in or sending.retry_delay(1)
            if rest:
                outcomes["not_tried"] = len(rest)
                publishing.postpone(rest, seconds=delay)
                try:
                    deliver_outbox_messages.apply_async((rest,), countdown=delay)
                except Exception:  # the broker: they stay pending and the sweep re-queues them
                    logger.warning("Could not queue the rest of a batch, %d message(s).", len(rest))
            logger.warning(
                "The mail server could not be reached (%s); the batch's %d other outbox "
                "message(s) wait %d s.",
                delivery.unreachable,
                len(rest),
                delay,
            )
            break
    return outcomes


@shared_task(name="cases.anonymise_reporters", acks_late=True, ignore_result=True)
def anonymise_reporters() -> int:
    """Blank reporter details past REPORTER_RETENTION_DAYS (the beat runs it daily)."""
    return len(reporters_anonymise().numbers)


@shared_task(name="cases.refresh_figures", acks_late=True, ignore_result=True)
def refresh_figures() -> dict:
    """Bring the daily roll-ups of the dashboard and the supervision page up to date (the
    beat runs it every minute), so that a page load finds little left to recompute."""
    refresh = figures_refresh()
    # And the supervision page's, which that page brings up to date before it reads too.
    supervision = supervision_refresh()
    return {
        "rebuilt": refresh.rebuilt,
        "days": len(refresh.days),
        "rows": refresh.rows,
        "supervision_rows": supervision.rows,
    }


@shared_task(name="cases.purge_idempotency_keys", acks_late=True, ignore_result=True)
def purge_idempotency_keys() -> int:
    """Forget idempotency keys past IDEMPOTENCY_KEY_DAYS (the beat runs it daily)."""
    return idempotency_keys_purge()


@shared_task(name="cases.purge_held_photos", acks_late=True, ignore_result=True)
def purge_held_photos() -> int:
    """Delete photos held for a duplicate screen past HELD_PHOTO_HOURS (the beat runs it
    hourly)."""
    return held_photos_purge()
