"""System checks for settings that must hold in every deployment (`manage.py check`).

Each one guards a promise the product makes: passwords are validated, a mail server that
hangs cannot hang a worker, pages run under a Content-Security-Policy without inline
script, sign-in is throttled, and email links point at a host this site answers to.
"""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Info, Tags, register
from django.http.request import validate_host

CSP_MIDDLEWARE = "csp.middleware.CSPMiddleware"
AXES_MIDDLEWARE = "axes.middleware.AxesMiddleware"
AXES_BACKEND = "governance.security.ThrottledLoginBackend"


@register(Tags.security)
def check_password_validators(app_configs, **kwargs):
    if not getattr(settings, "AUTH_PASSWORD_VALIDATORS", None):
        return [
            Error(
                "AUTH_PASSWORD_VALIDATORS is empty: any password would be accepted.",
                hint="Keep Django's four validators on.",
                id="governance.E001",
            )
        ]
    return []


@register(Tags.security)
def check_email_timeout(app_configs, **kwargs):
    timeout = getattr(settings, "EMAIL_TIMEOUT", None)
    if not timeout or timeout <= 0:
        return [
            Error(
                "EMAIL_TIMEOUT is not set: a mail server that stops answering would hold "
                "a worker (and the outbox row's lock) forever.",
                hint="Set EMAIL_TIMEOUT to a few seconds.",
                id="governance.E002",
            )
        ]
    return []


@register(Tags.security)
def check_content_security_policy(app_configs, **kwargs):
    errors = []
    policy = getattr(settings, "CONTENT_SECURITY_POLICY", None) or {}
    directives = policy.get("DIRECTIVES") or {}
    if CSP_MIDDLEWARE not in settings.MIDDLEWARE or not directives:
        errors.append(
            Error(
                "No Content-Security-Policy is sent.",
                hint=f"Add {CSP_MIDDLEWARE} to MIDDLEWARE and set CONTENT_SECURITY_POLICY.",
                id="governance.E003",
            )
        )
    scripts = directives.get("script-src", directives.get("default-src", []))
    if any("unsafe-inline" in source or "unsafe-eval" in source for source in scripts):
        errors.append(
            Error(
                "The Content-Security-Policy allows inline or evaluated script.",
                hint="Serve scripts as static files; keep 'unsafe-inline' out of script-src.",
                id="governance.E004",
            )
        )
    return errors


@register(Tags.security)
def check_login_throttling(app_configs, **kwargs):
    if (
        not getattr(settings, "AXES_ENABLED", False)
        or AXES_MIDDLEWARE not in settings.MIDDLEWARE
        or AXES_BACKEND not in settings.AUTHENTICATION_BACKENDS
    ):
        return [
            Error(
                "Login throttling is off: passwords can be guessed without limit.",
                hint=f"Keep AXES_ENABLED, {AXES_MIDDLEWARE} and {AXES_BACKEND} (first).",
                id="governance.E005",
            )
        ]
    return []


@register(Tags.security)
def check_site_url_host(app_configs, **kwargs):
    site_url = getattr(settings, "SITE_URL", "")
    parts = urlsplit(site_url)
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]  # what Django allows then
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return [
            Error(
                f"SITE_URL={site_url!r} is not an http(s) URL.",
                hint="Set SITE_URL to the address people reach the site at.",
                id="governance.E006",
            )
        ]
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    if not validate_host(host, allowed):
        return [
            Error(
                f"The host of SITE_URL ({host}) is not in ALLOWED_HOSTS: every link in "
                "the emails would answer 400.",
                hint="Add it to DJANGO_ALLOWED_HOSTS or fix SITE_URL.",
                id="governance.E007",
            )
        ]
    return []


@register(Tags.security, deploy=True)
def check_site_url_is_https(app_configs, **kwargs):
    # A notice, not a warning (SPEC §8: `check --deploy` warns of nothing in production):
    # the session cookie is HTTPS-only and the SSL redirect moves a plain link to HTTPS,
    # so only the link's first request, token and all, crosses the network in the clear.
    if urlsplit(getattr(settings, "SITE_URL", "")).scheme != "https":
        return [
            Info(
                f"SITE_URL={settings.SITE_URL!r} is not https: the links in emails, signed "
                "tokens included, go over plain HTTP until the SSL redirect moves them.",
                hint="Set SITE_URL to the https:// address people reach the site at.",
                id="governance.I008",
            )
        ]
    return []
