"""/healthz (SPEC §6): 200 with the state of the database and the broker, never hanging."""

import io
import socket
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cases.models import Case, SweepRun
from cases.services.escalation import escalation_sweep
from tests.processes import free_port


@pytest.mark.django_db
def test_healthz_reports_database_and_redis_broker_up(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/3"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["database"] == "ok"
    assert body["broker"] == "ok"
    assert body["status"] == "ok"
    assert "sweep" in body


@pytest.mark.django_db
def test_healthz_says_the_broker_is_down_quickly_without_hanging(client, settings):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_port()}/3"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
    started = time.monotonic()
    response = client.get("/healthz")
    assert time.monotonic() - started < 8
    assert response.status_code == 200
    body = response.json()
    assert body["database"] == "ok"
    assert body["broker"] == "down"
    assert body["status"] == "degraded"
    assert body["errors"]["broker"]


@pytest.mark.django_db
def test_healthz_needs_no_sign_in_and_is_never_cached(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/3"
    response = client.get("/healthz")
    assert response.status_code == 200
    assert "no-cache" in response["Cache-Control"]
    # Load balancers often probe with HEAD: the same answer, without a body.
    probe = client.head("/healthz")
    assert probe.status_code == 200 and probe.content == b""
    assert client.post("/healthz").status_code == 405


@pytest.mark.django_db
def test_healthz_does_not_hang_on_a_broker_that_accepts_but_never_answers(client, settings):
    # A listening socket nobody reads: the TCP handshake succeeds, no reply ever comes.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{silent.getsockname()[1]}/3"
        settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
        started = time.monotonic()
        response = client.get("/healthz")
        elapsed = time.monotonic() - started
    assert elapsed < 8
    assert response.status_code == 200
    assert response.json()["broker"] == "down"


@pytest.mark.django_db
def test_healthz_is_degraded_while_the_last_sweep_failed(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/3"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
    # A fresh install has never swept: nothing has failed.
    assert client.get("/healthz").json()["status"] == "ok"
    SweepRun.objects.create(
        started_at=timezone.now() - timedelta(minutes=2),
        clock=timezone.now(),
        error="OperationalError: the database went away",
    )
    response = client.get("/healthz")
    assert response.status_code == 200  # the database is up: not for a load balancer
    body = response.json()
    assert body["status"] == "degraded" and body["sweep"]["last_failed"] is True
    assert set(body) == {"status", "database", "broker", "sweep", "calendar", "errors"}
    assert (body["database"], body["broker"], body["errors"]) == ("ok", "ok", {})
    escalation_sweep()  # the next sweep gets through
    assert client.get("/healthz").json()["status"] == "ok"


@pytest.mark.django_db
def test_healthz_stays_degraded_while_a_sweep_after_a_failed_one_is_still_running(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/3"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
    SweepRun.objects.create(
        started_at=timezone.now() - timedelta(minutes=2),
        clock=timezone.now(),
        error="OperationalError: the database went away",
    )
    SweepRun.objects.create(started_at=timezone.now() - timedelta(seconds=5), clock=timezone.now())
    body = client.get("/healthz").json()
    assert body["status"] == "degraded" and body["sweep"]["last_failed"] is True
    assert body["sweep"]["running_too_long"] is False


@pytest.mark.django_db
def test_healthz_is_degraded_once_sweeps_stop_finishing(client, settings):
    """Beat stopped, or every worker: nothing escalates, and the probe must say so."""
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/3"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
    escalation_sweep()
    assert client.get("/healthz").json()["status"] == "ok"
    SweepRun.objects.update(
        started_at=timezone.now() - timedelta(minutes=6),
        finished_at=timezone.now() - timedelta(minutes=6),
    )
    body = client.get("/healthz").json()
    assert body["status"] == "degraded"
    assert (body["sweep"]["stopped"], body["sweep"]["running_too_long"]) == (True, False)
    # Beat sweeping every 10 minutes: six minutes of quiet is its rhythm, not a stop.
    settings.CELERY_BEAT_SCHEDULE = {"escalate-overdue": {"schedule": 600.0}}
    assert client.get("/healthz").json()["status"] == "ok"


@pytest.fixture
def broker_up(settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/3"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}


def test_healthz_is_degraded_when_no_sweep_ever_ran_on_a_site_in_use(client, report, broker_up):
    """Beat never started, or every worker runs `-Q mail` only: nothing ever escalates.
    A fresh install stays healthy; a site whose cases are older than the allowed quiet
    (five minutes here) and has never swept is not."""
    case = report()
    body = client.get("/healthz").json()
    assert body["status"] == "ok" and body["sweep"]["never_ran"] is False

    Case.objects.filter(pk=case.pk).update(created_at=timezone.now() - timedelta(minutes=6))
    installed_minutes_ago(6)
    body = client.get("/healthz").json()
    assert body["status"] == "degraded"
    assert body["sweep"]["never_ran"] is True and body["sweep"]["last_started_at"] is None
    assert (body["database"], body["broker"], body["errors"]) == ("ok", "ok", {})

    # Beat sweeping every 10 minutes: six minutes of quiet is its rhythm, not a failure.
    settings_period = {"escalate-overdue": {"schedule": 600.0}}
    with override_settings(CELERY_BEAT_SCHEDULE=settings_period):
        assert client.get("/healthz").json()["status"] == "ok"

    escalation_sweep()  # beat comes up
    body = client.get("/healthz").json()
    assert body["status"] == "ok" and body["sweep"]["never_ran"] is False


def installed_minutes_ago(minutes: int):
    MigrationRecorder.Migration.objects.update(applied=timezone.now() - timedelta(minutes=minutes))


def test_a_demo_seeded_a_minute_ago_is_healthy_though_its_cases_are_back_dated(
    db, client, broker_up
):
    """seed_demo dates its cases over past months: /healthz called the new demo degraded,
    "never swept", until beat's first sweep."""
    call_command("seed_demo", "--cases", "20", stdout=io.StringIO())
    # `make run` migrates just before it seeds; the test database may be older than the limit.
    installed_minutes_ago(1)
    assert Case.objects.filter(created_at__lt=timezone.now() - timedelta(days=1)).exists()
    body = client.get("/healthz").json()
    assert body["status"] == "ok" and body["sweep"]["never_ran"] is False
    installed_minutes_ago(6)  # still never swept five minutes on: beat is not running
    assert client.get("/healthz").json()["sweep"]["never_ran"] is True


def test_healthz_asks_nothing_more_of_the_cases_once_a_sweep_ran(client, report, broker_up):
    report()
    escalation_sweep()
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/healthz").json()["status"] == "ok"
    assert not [q for q in queries if "cases_case" in q["sql"]]


def test_healthz_is_degraded_while_a_calendar_change_waits_too_long_for_its_deadlines(
    db, client, broker_up
):
    """A holiday entered at short notice over many running deadlines leaves them to the
    worker, or to the next sweep: one whose move fails each time, or that no worker takes,
    leaves the sweep escalating cases on the days off. The probe says so once it has waited
    longer than the sweep itself may be quiet."""
    from departments.models import CalendarChange, Holiday

    escalation_sweep()  # beat runs: only the calendar can make the probe degraded
    Holiday.objects.create(date=timezone.localdate() + timedelta(days=30), kind="holiday")
    assert CalendarChange.objects.filter(followed_at__isnull=False).count() == 1  # moved inline
    body = client.get("/healthz").json()
    assert body["status"] == "ok"
    assert body["calendar"] == {
        "changes_waiting": 0,
        "oldest_waiting_since": None,
        "waiting_too_long": False,
    }

    made_at = timezone.now() - timedelta(minutes=2)
    waiting = CalendarChange.objects.create(
        made_at=made_at, first_day=timezone.localdate(), kinds_before={}
    )
    body = client.get("/healthz").json()
    assert body["status"] == "ok"  # the worker is on it
    assert body["calendar"]["changes_waiting"] == 1
    assert body["calendar"]["oldest_waiting_since"] == made_at.isoformat()

    CalendarChange.objects.filter(pk=waiting.pk).update(
        made_at=timezone.now() - timedelta(minutes=6)
    )
    body = client.get("/healthz").json()
    assert body["status"] == "degraded" and body["calendar"]["waiting_too_long"] is True
    assert (body["database"], body["broker"], body["sweep"]["ok"]) == ("ok", "ok", True)
    # Beat sweeping every 10 minutes: the next sweep may still move it.
    with override_settings(CELERY_BEAT_SCHEDULE={"escalate-overdue": {"schedule": 600.0}}):
        assert client.get("/healthz").json()["status"] == "ok"

    CalendarChange.objects.filter(pk=waiting.pk).update(followed_at=timezone.now())
    assert client.get("/healthz").json()["status"] == "ok"
