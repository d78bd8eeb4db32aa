"""`python manage.py escalate_overdue [--now ISO] [--dry-run]` (SPEC §5): one sweep in the
foreground, through the same service as the Celery task."""

from datetime import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from cases.emails import format_duration
from cases.models import EscalationLevel
from cases.services.escalation import escalation_sweep
from departments.calendar import get_calendar


def parse_now(raw: str) -> datetime:
    """An ISO-8601 date-time; without an offset it is read in TIME_ZONE."""
    try:
        moment = parse_datetime(raw.strip())
    except ValueError:
        moment = None
    if moment is None:
        raise CommandError(
            f"--now {raw!r} is not an ISO-8601 date-time; write e.g. 2026-03-02T10:00:00+08:00."
        )
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


class Command(BaseCommand):
    help = "Escalate overdue cases now (one sweep), printing what was escalated."

    def add_arguments(self, parser):
        parser.add_argument(
            "--now",
            metavar="ISO-8601-DATETIME",
            help="Pretend the clock says this time (e.g. 2026-03-02T10:00:00+08:00).",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Print what would escalate; change nothing and send nothing.",
        )

    def handle(self, *args, now=None, dry_run=False, **options):
        moment = timezone.now() if now is None else parse_now(now)
        result = escalation_sweep(now=moment, dry_run=dry_run)
        calendar = get_calendar()
        prefix = "[dry run] " if dry_run else ""
        for escalation in result.escalations:
            case = escalation.case
            owner = escalation.department.code if escalation.department_id else "pool"
            recipients = result.recipients.get(escalation.pk, [])
            if escalation.level == EscalationLevel.REMINDER:
                left = calendar.working_seconds_between(moment, escalation.deadline_at)
                what = f"due-soon reminder, {format_duration(left)} left"
            else:
                late = calendar.working_seconds_between(escalation.deadline_at, moment)
                what = f"level {escalation.level}, overdue by {format_duration(late)}"
            self.stdout.write(
                f"{prefix}{case.number} {escalation.deadline_kind} {what}; owner {owner}; "
                f"to: {', '.join(recipients) or '(nobody)'}"
            )
        verb = "would escalate" if dry_run else "escalated"
        self.stdout.write(
            self.style.SUCCESS(
                f"{prefix}Sweep at {timezone.localtime(moment).isoformat()}: {verb} "
                f"{len(result.escalated)}, reminders {len(result.reminded)}, "
                f"emails {result.messages}"
                + ("" if dry_run else f", re-queued {result.requeued}")
                + "."
            )
        )
