"""Handing outbox rows to Celery: after the commit that wrote them (`schedule_delivery`),
a sweep's in batches streamed from the database (`publish_sweep`), and again when left
pending too long (`requeue_stuck`, run by every sweep). A broker that is down is logged,
never raised: the rows stay pending and the next sweep re-queues them.

cases/tasks.py imports the outbox, so the functions here import the tasks when called.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from itertools import islice

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from cases.models import OutboxMessage

logger = logging.getLogger(__name__)

Status = OutboxMessage.Status


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

    queue_or_log(
        queue_sweep_messages,
        (str(sweep_id),),
        unqueued="Could not queue the messages of sweep %s; the sweep will re-queue them.",
        unqueued_args=(sweep_id,),
    )


def queue_or_log(task, args: tuple = (), *, unqueued: str, unqueued_args: tuple = ()) -> None:
    """Queue `task` after a commit, the broker given two more tries; one that still does
    not answer is logged (`unqueued` % `unqueued_args`, which says who does the work
    instead), not raised: what the task follows has committed already."""
    try:
        task.apply_async(args, retry=True, retry_policy=RETRY_POLICY)
    except Exception:  # the broker, whatever its client raises
        logger.warning(unqueued, *unqueued_args, exc_info=True)


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
    return int(getattr(settings, "OUTBOX_BATCH_SIZE", 100))


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


def requeue_after() -> timedelta:
    """How long past its due moment a pending row may wait before it counts as lost."""
    return timedelta(seconds=int(getattr(settings, "OUTBOX_REQUEUE_AFTER_SECONDS", 300)))


def postpone(message_pks: list[int], *, seconds: int, now: datetime | None = None) -> None:
    """Move the pending messages' next attempt `seconds` on (a batch handed on past a silent
    mail server): the sweep's re-queue of stuck rows then leaves them to that batch."""
    now = now or timezone.now()
    OutboxMessage.objects.filter(pk__in=message_pks, status=Status.PENDING).update(
        next_attempt_at=now + timedelta(seconds=seconds)
    )
