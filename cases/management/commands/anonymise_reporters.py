"""python manage.py anonymise_reporters [--dry-run] [--now ISO-8601-DATETIME]"""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from cases.services.privacy import reporters_anonymise, retention


class Command(BaseCommand):
    help = (
        "Blank the reporter name and phone of cases closed or cancelled longer than "
        "REPORTER_RETENTION_DAYS ago."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="List them, change nothing.")
        parser.add_argument("--now", help="Pretend the clock says this time (ISO 8601).")

    def handle(self, *args, dry_run=False, now=None, **options):
        moment = None
        if now:
            moment = parse_datetime(now)
            if moment is None:
                raise CommandError(f"--now {now!r} is not an ISO 8601 date and time.")
            if timezone.is_naive(moment):
                moment = timezone.make_aware(moment)
        result = reporters_anonymise(now=moment, dry_run=dry_run)
        verb = "Would anonymise" if dry_run else "Anonymised"
        for number in result.numbers:
            self.stdout.write(f"{verb} {number}")
        self.stdout.write(
            f"{verb} the reporters of {len(result.numbers)} case(s) closed more than "
            f"{retention().days} days ago."
        )
