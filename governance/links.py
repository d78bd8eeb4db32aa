"""The site's pages as email links: absolute addresses under SITE_URL, alike wherever the
email is written (in a page's request, by the worker or by a command)."""

from django.conf import settings
from django.urls import get_script_prefix, reverse


def site_url(viewname: str, *, args=(), kwargs=None) -> str:
    """The address of the page `viewname` names, under SITE_URL.

    A site served under a path (`https://gov.example/gz`) has that path in SITE_URL, and
    Django writes it before every path it makes (FORCE_SCRIPT_NAME, from SITE_URL; or a
    proxy's SCRIPT_NAME, in a request only): it is taken off here, so that a link written
    by a page reads as one written by the worker, and neither says it twice."""
    path = reverse(viewname, args=args, kwargs=kwargs)
    return f"{settings.SITE_URL}/{path.removeprefix(get_script_prefix())}"
