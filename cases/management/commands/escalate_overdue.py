"""`python manage.py escalate_overdue [--now ISO] [--dry-run] [--queue]` (SPEC §5): one
sweep in the foreground, through the same service as the Celery task, sending its emails
itself unless `--queue` leaves them to the worker."""

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from cases.labels import deadline_label
from cases.models import EscalationLevel
from cases.services.calendar_changes import calendar_changes_waiting
from cases.services.escalation import escalation_sweep
from cases.services.outbox import foreground, publishing
from cases.time_words import deadline_just_passed, format_duration
from departments.calendar import get_calendar
from departments.management.base import TranslatedHelpCommand, parse_now
from departments.wording import join_names


class Command(TranslatedHelpCommand):
    help = gettext_lazy("Escalate overdue cases now (one sweep), printing what was escalated.")

    def add_arguments(self, parser):
        parser.add_argument(
            "--now",
            metavar="ISO-8601-DATETIME",
            help=_("Pretend the clock says this time (e.g. 2026-03-02T10:00:00+08:00)."),
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help=_("Print what would escalate; change nothing and send nothing."),
        )
        parser.add_argument(
            "--queue",
            action="store_true",
            help=_("Leave the emails to the Celery worker instead of sending them now."),
        )

    def handle(self, *args, now=None, dry_run=False, queue=False, **options):
        moment = timezone.now() if now is None else parse_now(now)
        result = escalation_sweep(now=moment, dry_run=dry_run)
        calendar = get_calendar()
        prefix = _("[dry run] ") if dry_run else ""
        for escalation in result.escalations:
            if escalation.level == EscalationLevel.REMINDER:
                left = calendar.working_seconds_between(moment, escalation.deadline_at)
                what = _("due-soon reminder, %(left)s left") % {"left": format_duration(left)}
            else:
                late = calendar.working_seconds_between(escalation.deadline_at, moment)
                if deadline_just_passed(late):
                    what = _("level %(level)s, overdue, the deadline has just passed") % {
                        "level": escalation.level
                    }
                else:
                    what = _("level %(level)s, overdue by %(late)s") % {
                        "level": escalation.level,
                        "late": format_duration(late),
                    }
            line = _("%(number)s %(deadline)s %(what)s; owner %(owner)s; to: %(to)s") % {
                "number": escalation.case.number,
                "deadline": deadline_label(escalation.deadline_kind),
                "what": what,
                # The owner as the emails name it (the sweep joined both): "pool" alone did
                # not say which township's.
                "owner": (
                    escalation.department.name
                    if escalation.department_id
                    else _("fallback pool of %(township)s") % {"township": escalation.township.name}
                ),
                "to": join_names(result.recipients_of(escalation)) or _("(nobody)"),
            }
            self.stdout.write(prefix + line)
        counts = {
            "at": timezone.localtime(moment).isoformat(),
            "escalated": len(result.escalated),
            "reminded": len(result.reminded),
            "emails": result.messages,
            "requeued": result.requeued,
        }
        if dry_run:
            summary = _(
                "Sweep at %(at)s: would escalate %(escalated)d, reminders %(reminded)d, "
                "emails %(emails)d."
            )
        else:
            summary = _(
                "Sweep at %(at)s: escalated %(escalated)d, reminders %(reminded)d, "
                "emails %(emails)d, re-queued %(requeued)d."
            )
        self.stdout.write(self.style.SUCCESS(prefix + summary % counts))
        if dry_run and calendar_changes_waiting():
            # The real sweep moves them first; this one changes nothing, so it compared
            # the deadlines as they stand.
            self.stderr.write(
                _(
                    "A calendar change has not moved the running deadlines yet: this dry run "
                    "compared them as they stand; the sweep moves them first."
                )
            )
        if result.messages and not (dry_run or queue):
            # In the foreground, as the sweep: a check or a by-hand run sees its emails go.
            # The ids are read first (a few MB at a million cases): a cursor left open across
            # each delivery's transaction is one SQLite may refuse.
            pending = list(publishing.sweep_pending_pks(result.sweep_id))
            run = foreground.deliver_now(
                pending, progress=self.progress_line(foreground.PROGRESS_LINE)
            )
            self.stdout.write(
                _("Emails: %(summary)s.") % {"summary": foreground.delivery_summary(run.outcomes)}
            )
            if unreachable := foreground.unreachable_server_words(run):
                self.stdout.write(self.style.WARNING(unreachable))
