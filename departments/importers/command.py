"""The shared body of the `import_*` management commands: read, plan, report, apply."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import CommandError
from django.db import IntegrityError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from departments.importers.plans import ImportPlan, ImportResult, apply, format_summary
from departments.management.base import TranslatedHelpCommand


class ImportCommand(TranslatedHelpCommand):
    """Subclasses set `planner` (a `plan_*` function) and `help`."""

    planner = None
    file_label = "FILE"
    # What the progress line counts: a GeoJSON file's rows are its features.
    progress_message = gettext_lazy("… %(count)d rows read")

    def add_arguments(self, parser):
        parser.add_argument("file", metavar=self.file_label, help=_("the file to import"))

    def handle(self, *args, file: str, verbosity: int = 1, **options):
        path = Path(file)
        try:
            data = path.read_bytes()
        except OSError as error:
            raise CommandError(
                _("cannot read %(file)s: %(error)s") % {"file": file, "error": error}
            ) from error
        plan = type(self).planner(data, progress=self.progress_line(self.progress_message))
        result = self.apply_plan(plan, path.name)
        return self.describe(plan, result) if verbosity else None

    def apply_plan(self, plan: ImportPlan, name: str) -> ImportResult:
        """Print every error and stop, with nothing saved; or apply the plan."""
        if plan.errors:
            for error in plan.errors:
                self.stderr.write(str(error))
            count = len(plan.errors)
            raise CommandError(
                ngettext(
                    "%(file)s: %(count)d error; nothing was imported.",
                    "%(file)s: %(count)d errors; nothing was imported.",
                    count,
                )
                % {"file": name, "count": count}
            )
        for warning in plan.warnings:
            self.stderr.write(_("warning: %(warning)s") % {"warning": warning})
        try:
            return apply(plan)
        except IntegrityError as error:
            # Someone changed the same records between our check and our write; the
            # transaction rolled back, so running again sees their change.
            raise CommandError(
                _(
                    "%(file)s: the database changed during the import; nothing was imported. "
                    "Run it again. (%(error)s)"
                )
                % {"file": name, "error": error}
            ) from error

    def describe(self, plan: ImportPlan, result: ImportResult) -> str:
        lines = [format_summary(result.summary)]
        if plan.side_rows:
            lines.append(
                _("townships: %(summary)s") % {"summary": format_summary(result.side_summary)}
            )
        return "\n".join(lines)
