"""The email to an address as it went out, for tests whose subject is what an email says."""

from cases.models import OutboxMessage
from cases.services.outbox.sending import deliver


def message_to(address) -> OutboxMessage:
    """The email to `address` as it went out: the sweep writes the row unrendered and the
    delivery renders it (in the recipient's language) just before sending it."""
    row = OutboxMessage.objects.get(to=address)
    assert deliver(message_pk=row.pk).outcome == "sent"
    row.refresh_from_db()
    return row
