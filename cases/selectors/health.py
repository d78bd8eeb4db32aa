"""The escalation sweep's heartbeat, and the calendar changes whose deadlines have not
moved yet, read for /healthz."""

from datetime import timedelta

from django.conf import settings
from django.db.migrations.recorder import MigrationRecorder
from django.db.models import Count, Min
from django.utils import timezone

from cases.models import Case, SweepRun
from departments.models import CalendarChange


def quiet_limit_seconds() -> float:
    """How long /healthz lets work the sweep does or retries wait: five minutes, or three
    of beat's sweep periods when they are longer."""
    period = settings.CELERY_BEAT_SCHEDULE["escalate-overdue"]["schedule"]
    return max(300, 3 * period)


def last_sweep_status(*, now=None, stale_after_seconds: float | None = None) -> dict:
    """The escalation sweep's heartbeat, for /healthz: the last sweep started and the last
    one finished, and `ok` False when none has finished within `stale_after_seconds` or a
    sweep has been running longer than that (a stuck worker or a beat that stopped).
    `stopped` says sweeps that used to finish no longer do, `never_ran` that none was
    ever recorded though cases were reported longer than the limit ago (beat never
    started, or no worker consumes the `celery` queue): a fresh install is not yet in use,
    and stays healthy. The limit defaults to five minutes, or three of beat's sweep
    periods when they are longer."""
    if stale_after_seconds is None:
        stale_after_seconds = quiet_limit_seconds()
    now = now or timezone.now()
    limit = timedelta(seconds=stale_after_seconds)
    started = SweepRun.objects.order_by("-started_at").first()
    finished = SweepRun.objects.filter(finished_at__isnull=False).order_by("-finished_at").first()
    # The last sweep that ended, well or not: one running after a failure has not yet
    # shown that sweeping works again.
    ended = SweepRun.objects.exclude(error="", finished_at=None).order_by("-started_at").first()
    stuck = bool(started and started.finished_at is None and now - started.started_at > limit)
    silent = bool(finished and now - finished.finished_at > limit)
    # Only while no sweep was ever recorded: one EXISTS on the indexed created_at. Cases
    # are never deleted, so one reported before the limit means the site has been in use
    # that long, and a running beat would have swept by now; unless the database itself
    # is younger (its first migration's time): seed_demo back-dates the cases it makes.
    never_ran = (
        started is None
        and Case.objects.filter(created_at__lt=now - limit).exists()
        and MigrationRecorder.Migration.objects.filter(applied__lt=now - limit).exists()
    )
    return {
        "last_started_at": started.started_at if started else None,
        "last_finished_at": finished.finished_at if finished else None,
        # Whether it failed, not how: the page is public, an error's text may name hosts.
        "last_failed": bool(ended and ended.error),
        "running_too_long": stuck,
        "stopped": silent and not stuck,
        "never_ran": never_ran,
        "ok": bool(finished and not silent and not stuck),
    }


def calendar_follow_status(*, now=None) -> dict:
    """Calendar changes whose running deadlines have not moved yet. Too many to move within
    the admin's request, a change's are moved by the worker right after it commits, or by
    the next sweep (cases/services/calendar_changes.py): one still waiting after the quiet
    limit is one that fails each time, or that no worker takes, and until it moves the
    sweep escalates cases on the days taken off (or spares them on the days put on)."""
    now = now or timezone.now()
    waiting = CalendarChange.objects.filter(followed_at__isnull=True).aggregate(
        count=Count("id"), oldest=Min("made_at")
    )
    oldest = waiting["oldest"]
    return {
        "changes_waiting": waiting["count"],
        "oldest_waiting_since": oldest,
        "waiting_too_long": bool(
            oldest and now - oldest > timedelta(seconds=quiet_limit_seconds())
        ),
    }
