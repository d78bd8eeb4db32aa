"""What the project's management commands share."""

from collections.abc import Callable
from datetime import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

# How far --now may be from the real clock. The working calendar walks day by day to a
# moment: a --now centuries away took minutes, and one in the year 9999 (a script's "never")
# overflowed Python's dates, a traceback after the sweep had escalated every open case.
NOW_MAX_YEARS_AWAY = 100


def parse_now(raw: str) -> datetime:
    """A command's `--now`: an ISO-8601 date-time; without an offset it is read in
    TIME_ZONE."""
    try:
        moment = parse_datetime(raw.strip())
    except ValueError:
        moment = None
    if moment is None:
        raise CommandError(
            _("--now %(value)r is not an ISO-8601 date-time; write e.g. %(example)s.")
            % {"value": raw, "example": "2026-03-02T10:00:00+08:00"}
        )
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    if abs(moment.year - timezone.now().year) > NOW_MAX_YEARS_AWAY:
        raise CommandError(
            _("--now %(value)r is more than %(years)d years from today.")
            % {"value": raw, "years": NOW_MAX_YEARS_AWAY}
        )
    return moment


class TranslatedHelpCommand(BaseCommand):
    """A command whose `help` is a lazy translation: argparse formats only real strings
    (`--help` failed with "expected string … got '__proxy__'"), so the text is rendered,
    in the language of LANGUAGE_CODE, when the parser is made. Arguments' help texts are
    translated with `gettext` in `add_arguments`, which runs at that moment too."""

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        if parser.description is not None:
            parser.description = str(parser.description)
        return parser

    def progress_line(self, message: str) -> Callable[[int], None]:
        """A service's `progress` callback for a long run by hand: `message` with its
        %(count)d on stderr, apart from the output a script reads."""
        return lambda count: self.stderr.write(message % {"count": count})
