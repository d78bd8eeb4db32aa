"""CSV and XLSX exports of the filtered case list (the same filters as /cases/)."""

import csv
import io

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from cases.forms import errors_in_one_line
from cases.privacy import description_for
from cases.spreadsheets import safe
from cases.views.lists import filtered_cases

# Rows are streamed from the database in chunks, never all held at once.
CHUNK = 2000


def export_header() -> list[str]:
    # The codes (SPEC §2–3) beside their words: scripts read the codes in any language.
    return [
        _("Number"),
        _("State code"),
        _("State"),
        _("Category code"),
        _("Category"),
        _("Township"),
        _("Grid cell code"),
        _("Grid cell"),
        _("Lead department"),
        _("Fallback reason code"),
        _("Fallback reason"),
        _("Urgency"),
        _("Reported at"),
        _("Due"),
        _("Overdue"),
        _("Address"),
        _("Description"),
    ]


def local(value):
    return timezone.localtime(value).replace(tzinfo=None) if value else None


def export_rows(cases, user):
    for case in cases.iterator(chunk_size=CHUNK):
        yield [
            safe(value)
            for value in (
                case.number,
                case.state,
                str(case.get_state_display()),
                case.category.code if case.category else "",
                case.category.name if case.category else "",
                case.township.name,
                case.cell.code if case.cell else "",
                case.cell.name if case.cell else "",
                case.lead_department.name if case.lead_department else "",
                case.fallback_reason,
                str(case.get_fallback_reason_display()) if case.fallback_reason else "",
                str(case.get_urgency_display()),
                local(case.created_at),
                local(case.due_at),
                _("yes") if case.is_overdue else "",
                case.address,
                # Contact-masked for whoever sees the reporter masked (cases/privacy.py).
                description_for(user, case),
            )
        ]


def filename(extension: str) -> str:
    return f"cases-{timezone.localtime():%Y%m%d-%H%M}.{extension}"


class _Echo:
    def write(self, value):
        return value


def refused(form):
    """A filter that does not parse: say so, rather than hand over an empty file that
    looks like "no cases"."""
    return HttpResponseBadRequest(
        _("Nothing was exported: %(errors)s") % {"errors": errors_in_one_line(form)},
        content_type="text/plain; charset=utf-8",
    )


@login_required
def export_csv(request):
    cases, form = filtered_cases(request)
    if form.errors:
        return refused(form)
    writer = csv.writer(_Echo())

    def lines():
        yield "\ufeff"  # a BOM, so that Excel reads the Chinese text as UTF-8
        yield writer.writerow(export_header())
        for row in export_rows(cases, request.user):
            yield writer.writerow(
                [
                    value.strftime("%Y-%m-%d %H:%M") if hasattr(value, "strftime") else value
                    for value in row
                ]
            )

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename("csv")}"'
    return response


@login_required
def export_xlsx(request):
    cases, form = filtered_cases(request)
    if form.errors:
        return refused(form)
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(_("Cases"))
    sheet.append(export_header())
    for row in export_rows(cases, request.user):
        # A control character pasted into a description (Word's vertical tab) is refused
        # by the file format: openpyxl raised, and nobody's export held the case any more.
        sheet.append(
            [
                ILLEGAL_CHARACTERS_RE.sub("", value) if isinstance(value, str) else value
                for value in row
            ]
        )
    buffer = io.BytesIO()
    workbook.save(buffer)
    response = HttpResponse(
        buffer.getvalue(),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    response["Content-Disposition"] = f'attachment; filename="{filename("xlsx")}"'
    return response
