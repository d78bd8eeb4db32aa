"""Sending failed messages again when someone asks (the admin's "Send again"): back to
`pending` with a fresh attempt budget, through the same delivery as a new row."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Case as SqlCase
from django.db.models import F, Value, When
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from cases.models import OutboxMessage
from cases.services.outbox.enqueue import address_error
from cases.services.outbox.outdated import outdated_messages
from cases.services.outbox.publishing import schedule_delivery
from departments.models import User

Status = OutboxMessage.Status


@dataclass(frozen=True)
class Resend:
    """What `outbox_messages_resend` did with a selection of messages."""

    resent: list[int]  # set back to pending and queued for delivery
    not_failed: int  # pending or sent: left as they were
    bad_addresses: list[str]  # failed because the address is none: left failed
    outdated: int = 0  # emails of a case moved on since (`outdated_messages`): left failed


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
        outdated = outdated_messages(deliverable)
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
