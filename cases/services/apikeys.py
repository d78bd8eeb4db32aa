"""Open311 API keys: issue, check, revoke and throttle them (SPEC §7).

A key reads `<prefix>.<secret>`. Only the SHA-256 digest of the whole key is stored; the
prefix is not secret and finds the row with one indexed lookup, so checking a key never
scans the table and a leaked database does not leak usable keys.
"""

import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from cases.models import ApiKey

PREFIX_BYTES = 4  # 8 hex characters: enough to find a row, useless to guess a key
SECRET_BYTES = 32
RATE_WINDOW_SECONDS = 60
# How stale `ApiKey.last_used_at` may get: the admin shows it, nothing decides on it.
TOUCH_EVERY = timedelta(minutes=1)


def _digest(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


@transaction.atomic
def api_key_create(*, name: str, rate_limit_per_minute: int | None = None) -> tuple[ApiKey, str]:
    """Create a key named `name` and return it with its secret, which is never stored and
    cannot be shown again."""
    name = name.strip()
    if not name:
        raise ValueError(_("An API key needs a name."))
    longest = ApiKey._meta.get_field("name").max_length
    if len(name) > longest:
        raise ValueError(
            _("An API key's name is at most %(count)d characters.") % {"count": longest}
        )
    while True:
        prefix = secrets.token_hex(PREFIX_BYTES)
        if not ApiKey.objects.filter(prefix=prefix).exists():
            break
    raw_key = f"{prefix}.{secrets.token_urlsafe(SECRET_BYTES)}"
    key = ApiKey(name=name, prefix=prefix, digest=_digest(raw_key))
    if rate_limit_per_minute is not None:
        key.rate_limit_per_minute = rate_limit_per_minute
    key.save()
    return key, raw_key


def api_key_authenticate(*, raw_key: str) -> ApiKey | None:
    """The active key matching `raw_key`, or None; compares digests in constant time."""
    prefix, dot, _secret = (raw_key or "").strip().partition(".")
    if not dot or not prefix:
        return None
    key = ApiKey.objects.active().filter(prefix=prefix).first()
    if key is None or not hmac.compare_digest(key.digest, _digest(raw_key.strip())):
        return None
    return key


def api_key_touch(*, key: ApiKey, now: datetime | None = None) -> None:
    """Record that `key` was just used, to the minute: one UPDATE (no read-modify-write)
    when the time the key row was read with is older than that, else nothing. A client
    posting many requests a minute then does not write, and wait for a commit of its own,
    on every request."""
    now = now or timezone.now()
    if key.last_used_at is not None and timedelta(0) <= now - key.last_used_at < TOUCH_EVERY:
        return
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    key.last_used_at = now


def api_keys_revoke(*, key_ids: list[int], now: datetime | None = None) -> int:
    """Revoke these keys at once (one UPDATE); a key revoked before keeps its first time.
    Returns how many keys this call revoked."""
    now = now or timezone.now()
    return ApiKey.objects.filter(pk__in=key_ids, revoked_at__isnull=True).update(revoked_at=now)


@dataclass(frozen=True)
class Throttle:
    allowed: bool
    limit: int
    remaining: int
    retry_after: int  # seconds until the window resets


def api_key_throttle(*, key: ApiKey, now: datetime | None = None) -> Throttle:
    """Count one request of `key` in the current minute and say whether it may proceed.

    A fixed window counted in the Django cache with an atomic increment, so with a shared
    cache (Redis) several web processes enforce one limit together.
    """
    now = now or timezone.now()
    stamp = now.timestamp()
    window = int(stamp // RATE_WINDOW_SECONDS)
    cache_key = f"open311:rate:{key.pk}:{window}"
    cache.add(cache_key, 0, timeout=RATE_WINDOW_SECONDS * 2)
    try:
        count = cache.incr(cache_key)
    except ValueError:  # evicted between add and incr
        cache.set(cache_key, 1, timeout=RATE_WINDOW_SECONDS * 2)
        count = 1
    limit = key.rate_limit_per_minute
    retry_after = max(1, math.ceil((window + 1) * RATE_WINDOW_SECONDS - stamp))
    return Throttle(
        allowed=count <= limit,
        limit=limit,
        remaining=max(0, limit - count),
        retry_after=retry_after,
    )
