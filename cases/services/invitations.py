"""Invitation emails for new users, through the transactional outbox."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from django.db import transaction
from django.utils import timezone

from cases.emails import render
from cases.models import OutboxMessage
from cases.services.outbox.enqueue import build_message, enqueue_many
from departments.invitations import (
    INVITATION_MAX_AGE,
    invitation_fingerprint,
    invitation_url,
)
from departments.models import User


@transaction.atomic
def users_invite(
    *, users: Iterable[User], again: bool = False, now: datetime | None = None
) -> list[OutboxMessage]:
    """Queue one invitation email per user who has an address and no usable password,
    each in the user's language with a signed link to set their password. Returns the
    rows this call wrote (not those an earlier call already wrote).

    Written in the caller's transaction (an import that rolls back invites nobody) and
    deduplicated per user and password state, so calling it twice sends one email.
    With `again` (someone asked to invite these users again) a user already invited gets
    a fresh email and link; the same request repeated within the minute (a form
    submitted twice) still writes one.
    """
    now = now or timezone.now()
    # An unused account's password hash never changes, so a re-invite needs its own key.
    resend = f":again:{now.astimezone(UTC):%Y%m%dT%H%M}" if again else ""
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
            build_message(
                to=user.email,
                subject=subject,
                text=text,
                html=html,
                kind="invitation",
                dedupe_key=f"invitation:{user.pk}:{invitation_fingerprint(user)}{resend}",
                language=user.language,
                now=now,
            )
        )
    stored = enqueue_many(messages)
    # A row written now carries the Message-ID built here; an older one kept its own.
    return [
        row
        for row, built in zip(stored, messages, strict=True)
        if row.message_id == built.message_id
    ]
