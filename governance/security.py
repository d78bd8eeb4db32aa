"""Glue between Django's sign-in and django-axes (login throttling)."""

from axes.backends import AxesStandaloneBackend
from django.conf import settings


class ThrottledLoginBackend(AxesStandaloneBackend):
    """Refuse sign-ins from a locked-out client (django-axes).

    Sign-ins over HTTP always carry the request; a call without one (a management command,
    the test client's `login()`) has no client to throttle and is left to the next backend
    instead of failing."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def client_ip(request) -> str:
    """The client's address: the socket's, or behind `TRUSTED_PROXY_COUNT` proxies the
    address they recorded in X-Forwarded-For (the part a client cannot forge)."""
    hops = settings.TRUSTED_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if hops and forwarded:
        addresses = [part.strip() for part in forwarded.split(",") if part.strip()]
        if len(addresses) >= hops:
            return addresses[-hops]
    return request.META.get("REMOTE_ADDR", "")
