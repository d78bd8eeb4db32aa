import time

from django.core.management.base import CommandError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from cases.services.seeding import demo_exists, demo_logins, seed_cases, seed_district
from cases.services.seeding.histories import STATE_WEIGHTS
from cases.services.seeding.whistles import WHISTLE_CASES, seed_whistle_cases
from departments.importers import ImportRefused, format_summary
from departments.management.base import TranslatedHelpCommand

# seed_cases reports two stages: the cases drawn, then those written.
PROGRESS_LINES = {
    "generated": gettext_lazy("… %(count)d cases generated"),
    "written": gettext_lazy("… %(count)d cases written"),
}


class Command(TranslatedHelpCommand):
    help = gettext_lazy(
        "Load the demo district (townships, cells, departments, categories, a responsibility "
        "list with deliberate gaps and overlaps, users of every role) from departments/samples, "
        "and with --cases N add N synthetic cases. Running it again loads the district's "
        "data once (each run's --cases N adds N more cases)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--cases", type=int, default=0, metavar="N", help=_("add N synthetic cases")
        )
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help=_("do nothing if the demo district is already loaded"),
        )
        parser.add_argument(
            "--seed", type=int, default=None, help=_("random seed, for repeatable cases")
        )

    def handle(self, *args, cases: int, if_empty: bool, seed: int | None, **options):
        if cases < 0:
            raise CommandError(_("--cases must be 0 or more."))
        if if_empty and demo_exists():
            self.stdout.write(_("The demo district is already loaded: nothing to do."))
            self.print_logins()
            return
        try:
            results = seed_district()
        except ImportRefused as refused:
            for error in refused.errors:
                self.stderr.write(str(error))
            raise CommandError(_("The sample files have errors; nothing was loaded.")) from None
        for subject, result in results.items():
            self.stdout.write(f"{subject}: {format_summary(result.summary)}")
        if cases:
            started = time.monotonic()
            # N cases in all: a few of them (WHISTLE_CASES) open with a whistle blown, made
            # through the services, after the synthetic ones (they are reported now). The
            # synthetic ones come first: the first of them show every state once.
            whistles = min(len(WHISTLE_CASES), max(0, cases - len(STATE_WEIGHTS)))
            created = seed_cases(count=cases - whistles, seed=seed, progress=self.progress)
            created += seed_whistle_cases(limit=whistles)
            self.stdout.write(
                _("cases: created %(count)d in %(seconds).1f s")
                % {"count": created, "seconds": time.monotonic() - started}
            )
        self.print_logins()

    def progress(self, stage: str, done: int) -> None:
        self.progress_line(PROGRESS_LINES[stage])(done)

    def print_logins(self) -> None:
        rows = demo_logins()
        if not rows:
            return
        headers = (_("username"), _("password"), _("role"), _("township or department"))
        widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(3)]
        self.stdout.write("")
        self.stdout.write(_("Demo logins:"))
        for row in [headers, *rows]:
            cells = [str(value).ljust(width) for value, width in zip(row, widths, strict=False)]
            self.stdout.write("  " + "  ".join([*cells, str(row[3])]))
