"""Which outbox emails no longer fit their case: an escalation or reminder of a deadline
the case is no longer on, an arbitration request of a case no longer waiting for it.
Such a row is not sent (`sending.deliver`), nor sent again (`resend`)."""

from __future__ import annotations

from django.db.models import F, Q

from cases.models import OutboxMessage, State
from cases.models.case import ARBITRATION_RETURNS

# The outbox kind of the email calling a case's arbiters (`cases.services.arbitration_mail`).
ARBITRATION_KIND = "arbitration"


def outdated_messages(message_pks: list[int]) -> set[int]:
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
