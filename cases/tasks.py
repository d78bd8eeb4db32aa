"""Celery tasks: thin callers of the services (SPEC §4).

Both tasks are safe to run twice or at the same time: the sweep's inserts are guarded by
the escalation's unique constraint, and a delivery locks its outbox row and skips a row
that is no longer pending.
"""

from celery import shared_task
from django.utils import timezone

from cases.services import escalation, outbox


@shared_task(name="cases.escalate_overdue", acks_late=True, ignore_result=True)
def escalate_overdue() -> dict:
    """One escalation sweep at the current time (the beat schedule runs it every minute)."""
    result = escalation.escalation_sweep(now=timezone.now())
    return result.summary()


@shared_task(
    bind=True,
    name="cases.send_outbox_message",
    acks_late=True,
    ignore_result=True,
    max_retries=None,  # the outbox row counts attempts (OUTBOX_MAX_ATTEMPTS)
)
def send_outbox_message(self, message_pk: int) -> str:
    """Deliver one outbox message; on a temporary failure retry with exponential backoff."""
    delivery = outbox.deliver(message_pk=message_pk)
    if delivery.retry_in is not None:
        raise self.retry(countdown=delivery.retry_in)
    return delivery.outcome


@shared_task(name="cases.anonymise_reporters", acks_late=True, ignore_result=True)
def anonymise_reporters() -> int:
    """Blank reporter details past REPORTER_RETENTION_DAYS (the beat runs it daily)."""
    from cases.services.privacy import reporters_anonymise

    return len(reporters_anonymise().numbers)
