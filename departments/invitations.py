"""Invitation links: a signed, expiring token that lets a new user set their password once.

The token names the user and a fingerprint of their current password hash (and email and
active flag): setting the password changes the hash, so a used link stops working, and so
does a link sent before the address was corrected or the account was deactivated, even
once it is reactivated (`invitations_revoke`). No password is ever in a file or an email.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils.crypto import constant_time_compare, salted_hmac

from departments.models import User

SALT = "departments.invitation"
INVITATION_MAX_AGE = timedelta(days=7)


class InvitationError(Exception):
    def __init__(self, reason: str):
        self.reason = reason  # "expired", "invalid" or "used"
        super().__init__(reason)


def _fingerprint(user: User, secret: str | None = None) -> str:
    value = f"{user.pk}|{user.password}|{user.email}|{user.is_active}"
    return salted_hmac(SALT, value, secret=secret, algorithm="sha256").hexdigest()[:32]


def invitations_revoke(user: User) -> None:
    """End, for good, every invitation link sent to `user` so far (the caller saves).

    The fingerprint holds the active flag, so a link sent before a deactivation would
    work again after a reactivation: a fresh unusable password changes it for good. A
    usable password is left alone: setting it already ended the links."""
    if not user.has_usable_password():
        user.set_unusable_password()


def invitation_token(user: User) -> str:
    return signing.dumps({"u": user.pk, "f": _fingerprint(user)}, salt=SALT, compress=True)


def invitation_fingerprint(user: User) -> str:
    """Stable per (user, password hash): the outbox dedupes one invitation per state."""
    return _fingerprint(user)[:12]


def invitation_url(user: User) -> str:
    return f"{settings.SITE_URL}{reverse('invitations:accept', args=[invitation_token(user)])}"


def read_invitation_token(token: str, *, max_age: timedelta = INVITATION_MAX_AGE) -> User:
    """The invited user; InvitationError if the link was altered, is too old or was used."""
    try:
        data = signing.loads(token, salt=SALT, max_age=max_age)
        user_pk, fingerprint = int(data["u"]), str(data["f"])
    except signing.SignatureExpired as error:
        raise InvitationError("expired") from error
    except (signing.BadSignature, KeyError, TypeError, ValueError) as error:
        raise InvitationError("invalid") from error
    user = User.objects.filter(pk=user_pk, is_active=True).first()
    if user is None:
        raise InvitationError("invalid")
    # Made with the key of the day it was sent: after a rotation, an old key among the
    # fallbacks (as signing.loads above reads them).
    secrets = [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
    if not any(constant_time_compare(fingerprint, _fingerprint(user, key)) for key in secrets):
        raise InvitationError("used")
    return user
