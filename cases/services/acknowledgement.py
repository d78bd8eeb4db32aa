"""Acknowledging an escalation from its email (SPEC §4): a signed link names the escalation
and the address it was sent to, expires after 14 days, and the first acknowledgement wins.
A link sent to an address escalations no longer go to (a deactivated account, one no
longer a supervisor's, a department's former head) no longer works.
The page behind the link is cases/views/escalation.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from cases.models import CaseEvent, Escalation
from cases.signed_links import SignedLinkError, make_token, read_token
from departments.models import Department, User
from governance.links import site_url

ACK_SALT = "cases.escalation.acknowledge"
ACK_MAX_AGE = timedelta(days=14)

# Kept under these names for the views and tests that catch them.
AckLinkError = SignedLinkError


def ack_token(*, escalation_pk: int, address: str) -> str:
    """A signed, timestamped token naming the escalation and the address it was sent to."""
    return make_token(salt=ACK_SALT, pk=escalation_pk, address=address)


def read_ack_token(token: str, *, max_age: timedelta = ACK_MAX_AGE) -> tuple[int, str]:
    """(escalation pk, address) from a token; AckLinkError if altered or too old."""
    return read_token(token, salt=ACK_SALT, max_age=max_age)


def ack_url(*, escalation_pk: int, address: str) -> str:
    return site_url(
        "escalations:acknowledge",
        kwargs={"token": ack_token(escalation_pk=escalation_pk, address=address)},
    )


def address_withdrawn(address: str) -> bool:
    """Whether the address is no longer one that escalations go to: no active supervisor
    has it and no department lists it among its supervisors (a supervisor who left or
    took another role, a department's former head). Links sent to it then speak for
    nobody, and acknowledging would mark an escalation seen that nobody has seen."""
    # A supervisor's account, not any: escalations go to no other role
    # (escalation_mail.group_recipients), and a leader made a caseworker, or a former head
    # who signs in as a liaison, no longer answers for them.
    supervisors = User.objects.filter(role=User.Role.SUPERVISOR, is_active=True)
    if supervisors.filter(email__iexact=address).exists():
        return False
    listing = Department.objects.filter(supervisor_emails__icontains=address)
    return not any(
        listed.lower() == address.lower()
        for department in listing
        for listed in department.supervisor_email_list
    )


@dataclass(frozen=True)
class Acknowledgement:
    escalation: Escalation
    done_now: bool  # False: it had been acknowledged before (by `escalation.acknowledged_by_email`)


@transaction.atomic
def escalation_acknowledge(
    *, escalation_pk: int, address: str, now: datetime | None = None
) -> Acknowledgement:
    """Record that `address` acknowledged the escalation, once: the first acknowledgement
    wins and writes an audit row with the address as actor; later ones change nothing.
    AckLinkError ("withdrawn") if escalations no longer go to the address."""
    if address_withdrawn(address):
        raise AckLinkError("withdrawn")
    now = now or timezone.now()
    updated = Escalation.objects.filter(pk=escalation_pk, acknowledged_at__isnull=True).update(
        acknowledged_at=now, acknowledged_by_email=address
    )
    escalation = Escalation.objects.select_related("case").get(pk=escalation_pk)
    if updated:
        CaseEvent.objects.create(
            case=escalation.case,
            action="acknowledge",
            actor_label=address,
            data={
                "escalation": escalation.pk,
                "level": escalation.level,
                "deadline_seq": escalation.deadline_seq,
                "deadline": escalation.deadline_kind,
            },
            at=now,
        )
    return Acknowledgement(escalation=escalation, done_now=bool(updated))
