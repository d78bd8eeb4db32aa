"""Invitation links: a signed, expiring token that lets a new user set their password once;
and password reset links, the same for a user who forgot theirs ("Forgot your password?").

The token names the user and a fingerprint of their current password hash (and email and
active flag): setting the password changes the hash, so a used link stops working, and so
does a link sent before the address was corrected or the account was deactivated, even
once it is reactivated (`invitations_revoke`). No password is ever in a file or an email.

A reset link opens an account already in use: it has its own salt (an invitation's token
is no reset token, nor the other way round), lives PASSWORD_RESET_TIMEOUT (Django's
setting, 3 days by default) rather than an invitation's week, and its fingerprint also
holds the last sign-in, so that signing in with the remembered password ends it too.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.utils.crypto import constant_time_compare, salted_hmac

from departments.models import User
from governance.links import site_url

SALT = "departments.invitation"
INVITATION_MAX_AGE = timedelta(days=7)
RESET_SALT = "departments.password-reset"


class InvitationError(Exception):
    def __init__(self, reason: str):
        self.reason = reason  # "expired", "invalid" or "used"
        super().__init__(reason)


def _fingerprint(user: User, secret: str | None = None, *, salt: str = SALT) -> str:
    value = f"{user.pk}|{user.password}|{user.email}|{user.is_active}"
    if salt == RESET_SALT:
        value += f"|{int(user.last_login.timestamp()) if user.last_login else ''}"
    return salted_hmac(salt, value, secret=secret, algorithm="sha256").hexdigest()[:32]


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
    return site_url("invitations:accept", args=[invitation_token(user)])


def password_reset_max_age() -> timedelta:
    return timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT)


def password_reset_token(user: User) -> str:
    fingerprint = _fingerprint(user, salt=RESET_SALT)
    return signing.dumps({"u": user.pk, "f": fingerprint}, salt=RESET_SALT, compress=True)


def password_reset_fingerprint(user: User) -> str:
    """Stable per (user, password hash, last sign-in): the outbox's dedupe key holds it."""
    return _fingerprint(user, salt=RESET_SALT)[:12]


def password_reset_url(user: User) -> str:
    return site_url("password_reset_confirm", args=[password_reset_token(user)])


def read_invitation_token(token: str, *, max_age: timedelta = INVITATION_MAX_AGE) -> User:
    """The invited user; InvitationError if the link was altered, is too old or was used."""
    return _read_token(token, salt=SALT, max_age=max_age)


def read_password_reset_token(token: str) -> User:
    """The user who asked for a new password; InvitationError as `read_invitation_token`."""
    return _read_token(token, salt=RESET_SALT, max_age=password_reset_max_age())


def _read_token(token: str, *, salt: str, max_age: timedelta) -> User:
    try:
        data = signing.loads(token, salt=salt, max_age=max_age)
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
    if not any(
        constant_time_compare(fingerprint, _fingerprint(user, key, salt=salt)) for key in secrets
    ):
        raise InvitationError("used")
    return user
