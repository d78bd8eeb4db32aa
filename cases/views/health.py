"""/healthz (SPEC §6): the state of the database, the broker, the escalation sweep and the
calendar changes whose deadlines have yet to move."""

import logging

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from kombu import Connection

from cases.selectors.health import calendar_follow_status, last_sweep_status

log = logging.getLogger(__name__)

BROKER_TIMEOUT_SECONDS = 2


def database_state() -> tuple[bool, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as error:  # any failure means "down": report it, never raise
        return False, error.__class__.__name__
    return True, ""


def broker_state() -> tuple[bool, str]:
    """Connect to the broker once with a short timeout: a dead broker must not hang a probe."""
    from django.conf import settings

    options = dict(getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}) or {})
    options.update(
        socket_connect_timeout=BROKER_TIMEOUT_SECONDS,
        socket_timeout=BROKER_TIMEOUT_SECONDS,
        max_retries=0,
    )
    try:
        with Connection(
            settings.CELERY_BROKER_URL,
            connect_timeout=BROKER_TIMEOUT_SECONDS,
            transport_options=options,
        ) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, timeout=BROKER_TIMEOUT_SECONDS)
    except Exception as error:
        return False, error.__class__.__name__
    return True, ""


def read_status(read, name: str) -> dict | None:
    # A selector's answer (cases/selectors/health.py) as JSON; None when it cannot be read.
    try:
        status = read()
    except Exception as error:
        log.warning("healthz: %s status unavailable: %s", name, error)
        return None
    return {
        key: value.isoformat() if hasattr(value, "isoformat") else value
        for key, value in status.items()
    }


@never_cache
@require_safe  # GET, and HEAD as many load balancers probe
def healthz(request):
    db_ok, db_error = database_state()
    broker_ok, broker_error = broker_state()
    sweep = read_status(last_sweep_status, "sweep") if db_ok else None
    calendar = read_status(calendar_follow_status, "calendar") if db_ok else None
    # A sweep stuck past its limit, a last sweep that failed, sweeps that no longer finish
    # (beat or every worker stopped), or none ever recorded on a site in use for longer
    # than the limit (beat never started, or every worker runs `-Q mail` only) mean
    # escalations are not going out: say so. A fresh install that has not swept yet is no
    # failure; the flags are the latest sweep's, so the next one clears them unless it
    # fails too.
    sweep_failing = bool(
        sweep
        and (
            sweep["running_too_long"]
            or sweep["last_failed"]
            or sweep["stopped"]
            or sweep["never_ran"]
        )
    )
    # A holiday entered whose deadlines never moved: cases escalate on the days off.
    calendar_behind = bool(calendar and calendar["waiting_too_long"])
    healthy = db_ok and broker_ok and not sweep_failing and not calendar_behind
    status = "ok" if healthy else "degraded"
    body = {
        "status": status if db_ok else "down",
        "database": "ok" if db_ok else "down",
        "broker": "ok" if broker_ok else "down",
        "sweep": sweep,
        "calendar": calendar,
        "errors": {
            name: error
            for name, error in (("database", db_error), ("broker", broker_error))
            if error
        },
    }
    # Without its database the app can do nothing: that is the one failure a load balancer
    # must see. A broker outage only delays emails (they wait in the outbox).
    return JsonResponse(body, status=200 if db_ok else 503)
