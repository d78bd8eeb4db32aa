"""Invitation emails for new users, through the transactional outbox."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from cases.emails import render
from cases.models import OutboxMessage
from cases.services import outbox
from departments.invitations import (
    INVITATION_MAX_AGE,
    invitation_fingerprint,
    invitation_url,
)
from departments.models import User


@transaction.atomic
def users_invite(*, users: Iterable[User], now: datetime | None = None) -> list[OutboxMessage]:
    """Queue one invitation email per user who has an address and no usable password,
    each in the user's language with a signed link to set their password.

    Written in the caller's transaction (an import that rolls back invites nobody) and
    deduplicated per user and password state, so calling it twice sends one email.
    """
    now = now or timezone.now()
    messages = []
    for user in users:
        if not user.email or user.has_usable_password() or not user.is_active:
            continue
        subject, text, html = render(
            "invitation",
            {
                "user": user,
                "invite_url": invitation_url(user),
                "link_days": INVITATION_MAX_AGE.days,
            },
            language=user.language,
        )
        messages.append(
            outbox.build_message(
                to=user.email,
                subject=subject,
                text=text,
                html=html,
                kind="invitation",
                dedupe_key=f"invitation:{user.pk}:{invitation_fingerprint(user)}",
                language=user.language,
                now=now,
            )
        )
    return outbox.enqueue_many(messages)
