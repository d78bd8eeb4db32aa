"""python manage.py anonymise_reporters [--dry-run] [--now ISO-8601-DATETIME]"""

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from cases.services.privacy import reporters_anonymise, retention
from departments.management.base import TranslatedHelpCommand, parse_now


class Command(TranslatedHelpCommand):
    help = gettext_lazy(
        "Blank the reporter name and phone of cases closed or cancelled longer than "
        "REPORTER_RETENTION_DAYS ago, and the email, device and account ids an Open311 "
        "client posted with them."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help=_("List them, change nothing."))
        parser.add_argument(
            "--now",
            metavar="ISO-8601-DATETIME",
            help=_("Pretend the clock says this time (ISO 8601)."),
        )

    def handle(self, *args, dry_run=False, now=None, **options):
        moment = parse_now(now) if now else None
        result = reporters_anonymise(now=moment, dry_run=dry_run)
        count, days = len(result.numbers), retention().days
        for number in result.numbers:
            line = _("Would anonymise %(number)s") if dry_run else _("Anonymised %(number)s")
            self.stdout.write(line % {"number": number})
        if dry_run:
            summary = ngettext(
                "Would anonymise the reporters of %(count)d case closed more than %(days)d"
                " days ago.",
                "Would anonymise the reporters of %(count)d cases closed more than %(days)d"
                " days ago.",
                count,
            )
        else:
            summary = ngettext(
                "Anonymised the reporters of %(count)d case closed more than %(days)d days ago.",
                "Anonymised the reporters of %(count)d cases closed more than %(days)d days ago.",
                count,
            )
        self.stdout.write(summary % {"count": count, "days": days})
