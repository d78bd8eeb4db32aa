"""Invitation emails for new users, and password reset emails for those who forgot theirs,
through the transactional outbox."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from cases.emails import render
from cases.models import OutboxMessage
from cases.services.outbox.enqueue import build_message, enqueue_many
from departments.invitations import (
    INVITATION_MAX_AGE,
    invitation_fingerprint,
    invitation_url,
    password_reset_fingerprint,
    password_reset_max_age,
    password_reset_url,
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
        messages.append(
            _email_to(
                user,
                "invitation",
                {"invite_url": invitation_url(user), "link_days": INVITATION_MAX_AGE.days},
                dedupe_key=f"invitation:{user.pk}:{invitation_fingerprint(user)}{resend}",
                now=now,
            )
        )
    return _queued_now(messages)


def _email_to(user: User, kind: str, context: dict, *, dedupe_key: str, now) -> OutboxMessage:
    """An unsaved outbox row of the `kind` email (its templates' name) to `user`, in their
    language."""
    subject, text, html = render(kind, {"user": user, **context}, language=user.language)
    return build_message(
        to=user.email,
        subject=subject,
        text=text,
        html=html,
        kind=kind,
        dedupe_key=dedupe_key,
        language=user.language,
        now=now,
    )


def _queued_now(messages: list[OutboxMessage]) -> list[OutboxMessage]:
    """Write `messages` to the outbox; the rows this call wrote. A row written now carries
    the Message-ID built here; one an earlier call wrote with the same key kept its own."""
    stored = enqueue_many(messages)
    return [
        row
        for row, built in zip(stored, messages, strict=True)
        if row.message_id == built.message_id
    ]


# One reset email per user in this long, however often the form is sent.
PASSWORD_RESET_EVERY = timedelta(minutes=15)


def password_reset_users(login: str) -> list[User]:
    """The active users with an address whom `login` names: by their username, exactly, or
    by their email address, in any case (people sharing one address are each named)."""
    login = login.strip()
    if not login:
        return []
    return list(
        User.objects.filter(Q(username=login) | Q(email__iexact=login), is_active=True)
        .exclude(email="")
        .order_by("pk")
    )


@transaction.atomic
def password_reset_request(*, login: str, now: datetime | None = None) -> list[OutboxMessage]:
    """Queue a password reset email to each active user with an address whom `login`
    names (`password_reset_users`), in the user's language, with a signed link to set a
    new password; delivered after the commit. Returns the rows this call wrote.

    At most one per user in PASSWORD_RESET_EVERY: the dedupe key holds the user, their
    password state and the quarter of an hour, and a row written in the quarter before,
    less than that long ago, also stands for this one. Setting the password starts over.
    """
    now = now or timezone.now()
    window = int(now.timestamp() // PASSWORD_RESET_EVERY.total_seconds())
    max_age = password_reset_max_age()
    link_hours = int(max_age.total_seconds() // 3600)
    messages = []
    for user in password_reset_users(login):
        key = f"password-reset:{user.pk}:{password_reset_fingerprint(user)}"
        recent = OutboxMessage.objects.filter(
            dedupe_key__in=[f"{key}:{window}", f"{key}:{window - 1}"],
            created_at__gt=now - PASSWORD_RESET_EVERY,
        )
        if recent.exists():
            continue
        messages.append(
            _email_to(
                user,
                "password-reset",
                {
                    "reset_url": password_reset_url(user),
                    # Whole days when the setting is (3 by default), hours otherwise.
                    "link_days": link_hours // 24 if link_hours % 24 == 0 else 0,
                    "link_hours": max(1, link_hours),
                },
                dedupe_key=f"{key}:{window}",
                now=now,
            )
        )
    return _queued_now(messages)
