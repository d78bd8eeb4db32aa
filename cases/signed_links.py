"""Links that act without a sign-in: a signed, timestamped token naming one record and the
address the link was mailed to. Each purpose has its own salt, so a link made for one
purpose is refused by every other."""

import re
from datetime import timedelta
from functools import cache

from django.core import signing
from django.urls import reverse

from cases.privacy import MaskingFilter

# The pages a signed link opens: whoever holds one acts for the person it was mailed to.
LINK_VIEWS = (
    "escalations:acknowledge",
    "extensions:decide",
    "invitations:accept",
    "password_reset_confirm",
)
# Their paths before the token, written out for `mask_tokens`, which logs use before
# Django is set up (gunicorn's master); a test checks them against LINK_VIEWS.
LINK_PREFIXES = (
    "/escalations/ack/",
    "/extensions/decide/",
    "/accounts/invite/",
    "/accounts/password/reset/",
)


class SignedLinkError(Exception):
    """A link that is not one of ours, was altered, or has expired."""

    def __init__(self, reason: str, *, pk: int | None = None):
        super().__init__(reason)
        # "expired" or "invalid"; "withdrawn" when the address no longer speaks for anyone
        self.reason = reason
        # An expired link's record: its signature is ours, so the page can offer the case
        # (behind a sign-in) rather than leave its reader with nowhere to go.
        self.pk = pk


def make_token(*, salt: str, pk: int, address: str) -> str:
    return signing.dumps({"p": pk, "a": address}, salt=salt, compress=True)


def read_token(token: str, *, salt: str, max_age: timedelta) -> tuple[int, str]:
    """(record pk, address) from a token; SignedLinkError if altered or too old."""
    try:
        data = signing.loads(token, salt=salt, max_age=max_age)
    except signing.SignatureExpired as error:
        raise SignedLinkError("expired", pk=_expired_pk(token, salt=salt)) from error
    except signing.BadSignature as error:
        raise SignedLinkError("invalid") from error
    try:
        return int(data["p"]), str(data["a"])
    except (KeyError, TypeError, ValueError) as error:
        raise SignedLinkError("invalid") from error


def _expired_pk(token: str, *, salt: str) -> int | None:
    """The record an expired token names (its signature already checked)."""
    try:
        return int(signing.loads(token, salt=salt)["p"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None


def without_tokens(text: str) -> str:
    """`text` with the token of every signed link in it withheld ("/accounts/invite/…/"):
    an email kept for the record (the admin's outbox) must not hand its recipient's power,
    a password or an acknowledgement, to whoever reads it there."""
    return _signed_link().sub(r"\g<1>…/", text)


@cache
def _signed_link() -> re.Pattern:
    prefixes = [reverse(name, args=["T"]).removesuffix("T/") for name in LINK_VIEWS]
    return re.compile("(" + "|".join(map(re.escape, prefixes)) + r")[^/\s\"'<>]+/")


# A signed link's token in a log: after one of the links' paths, whatever it looks like
# (up to the next /, quote, space, ? or #: a request line, a Referer, a CSRF warning's
# path) ...
_LOGGED_LINK = re.compile("(" + "|".join(map(re.escape, LINK_PREFIXES)) + r")[^/\s\"'<>?#]+")
# ... and anywhere else in the shape `signing.dumps` gives it (payload:timestamp:signature,
# the colons maybe percent-encoded): a traceback's argument, a link under another path.
_TOKEN = re.compile(r"(?<![\w.-])\.?[\w-]+(?::|%3[aA])[0-9A-Za-z]+(?::|%3[aA])[\w-]{43}(?![\w-])")


# An Open311 client's key in a query string (`POST requests.json?api_key=…`, which the API
# takes as GeoReport v2 clients send it), percent-encoded or not, its name too (Django reads
# `api%5Fkey` as api_key): it posts as the client.
_API_KEY_NAME = "".join(f"(?:{re.escape(c)}|%(?i:{ord(c):02x}))" for c in "api_key")
_API_KEY = re.compile(rf"({_API_KEY_NAME}(?:=|%3[dD]))[^&\s\"'<>#]+")


def mask_tokens(text: str) -> str:
    """`text` with the token of every signed link, and every Open311 `api_key`, withheld,
    for logs: gunicorn's access log and every record of Django's and Celery's loggers
    (`MaskSignedLinkTokens`). Needs neither settings nor URLs, unlike `without_tokens`."""
    text = _API_KEY.sub(r"\g<1>…", text)
    return _TOKEN.sub("…", _LOGGED_LINK.sub(r"\g<1>…", text))


class MaskSignedLinkTokens(MaskingFilter):
    """Signed-link tokens, in every record: an acknowledge link acts for its recipient for
    14 days, an invitation or a password reset link sets a password; and Open311 API
    keys, which post cases."""

    mask = staticmethod(mask_tokens)
