"""Glue between Django's sign-in and django-axes (login throttling), a cap on the size of a
request's body, and the health probe that answers load balancers whatever the Host."""

import logging

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.http import HttpResponse
from django.utils import translation
from django.utils.translation import gettext

logger = logging.getLogger(__name__)


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
    if forwarded and not hops:
        _tell_of_an_uncounted_proxy(request.META.get("REMOTE_ADDR", ""))
    return request.META.get("REMOTE_ADDR", "")


_told_of_a_proxy = False


def _tell_of_an_uncounted_proxy(address: str) -> None:
    """Once a process: a sign-in carried X-Forwarded-For while TRUSTED_PROXY_COUNT is 0.
    Behind a proxy, the throttle then takes the proxy for every client, and five wrong
    passwords typed anywhere lock the username out for everyone behind it. (Trusting the
    header by default would let a client without a proxy write any address there, and so
    escape the throttle: the operator says how many proxies there are.) Once, not once per
    address: a client may send the header itself, from as many addresses as it has."""
    global _told_of_a_proxy
    if _told_of_a_proxy:
        return
    _told_of_a_proxy = True
    logger.warning(
        "A sign-in request from %s carried X-Forwarded-For while TRUSTED_PROXY_COUNT is 0: "
        "behind a proxy, the sign-in throttle counts every client as that proxy. Set "
        "TRUSTED_PROXY_COUNT to the number of proxies in front of the web processes.",
        address,
    )


def request_size_limit(get_response):
    """Refuse a body larger than REQUEST_MAX_BYTES before anything reads it: Django spools
    uploaded files to disk however large they are, and the CSRF check (or an API key's)
    reads the body first. The largest honest body is a report with its ten files of photos."""

    def middleware(request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.REQUEST_MAX_BYTES:
            return _too_large(request)
        return get_response(request)

    return middleware


def _too_large(request) -> HttpResponse:
    """The refusal, said as its caller reads it: an Open311 client gets the GeoReport error
    list in the format it asked for, a person the page's language (this runs before the
    locale middleware, so it reads the browser's)."""
    from cases.open311.formats import render_errors

    language = translation.get_language_from_request(request)
    with translation.override(language):
        text = gettext("The request is larger than %(size)d MB.") % {
            "size": settings.REQUEST_MAX_BYTES // 2**20
        }
    # The path below a proxy's prefix (SCRIPT_NAME), where the site's URLs begin.
    if request.path_info.startswith("/open311/"):
        fmt = "xml" if request.path_info.endswith(".xml") else "json"
        return render_errors([(413, text)], fmt=fmt, status=413)
    response = HttpResponse(text, status=413, content_type="text/plain; charset=utf-8")
    response["Content-Language"] = language
    return response


def health_probe(get_response):
    """/healthz answers whatever the Host header says: a load balancer probes each backend
    by its address, which is no host the site serves (ALLOWED_HOSTS would refuse it with a
    400 and log an error per probe). The page names no host and sets no cookie."""
    from cases.views.health import healthz

    def middleware(request):
        if request.path_info == "/healthz":
            return healthz(request)
        return get_response(request)

    return middleware
