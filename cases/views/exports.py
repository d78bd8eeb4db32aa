"""CSV and XLSX exports of the filtered case list (the same filters as /cases/)."""

import csv
import io

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from openpyxl import Workbook

from cases.forms import errors_in_one_line
from cases.models import Case
from cases.privacy import can_see_personal_data, masked_unless
from cases.spreadsheets import Echo, safe, too_big, xlsx_value
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


def _words(field) -> dict[str, str]:
    """A choice field's codes and their words in the request's language, looked up once
    per export: `get_FOO_display()` per row took a fifth of an export's time."""
    return {code: str(label) for code, label in field.choices}


def export_rows(cases, user):
    field = Case._meta.get_field
    states, reasons, urgencies = (
        _words(field(name)) for name in ("state", "fallback_reason", "urgency")
    )
    overdue = _("yes")
    for case in cases.iterator(chunk_size=CHUNK):
        # Contact-masked for whoever sees the reporter masked (cases/privacy.py).
        sees_contacts = can_see_personal_data(user, case)
        yield [
            case.number,
            case.state,
            states.get(case.state, case.state),
            case.category.code if case.category else "",
            case.category.name if case.category else "",
            case.township.name,
            case.cell.code if case.cell else "",
            case.cell.name if case.cell else "",
            case.lead_department.name if case.lead_department else "",
            case.fallback_reason,
            reasons.get(case.fallback_reason, case.fallback_reason),
            urgencies.get(case.urgency, case.urgency),
            local(case.created_at),
            local(case.due_at),
            overdue if case.is_overdue else "",
            masked_unless(case.address, sees_contacts),
            masked_unless(case.description, sees_contacts),
        ]


def filename(extension: str) -> str:
    return f"cases-{timezone.localtime():%Y%m%d-%H%M}.{extension}"


def refused(reason: str):
    """Say why nothing was exported, rather than hand over an empty or cut file that looks
    like the whole answer."""
    return HttpResponseBadRequest(
        _("Nothing was exported: %(reason)s") % {"reason": reason},
        content_type="text/plain; charset=utf-8",
    )


def export_refusal(cases, form, kind: str) -> HttpResponseBadRequest | None:
    """The refusal of an export whose filters do not parse or that matches more cases than
    one request can write; None when it may go ahead."""
    if form.errors:
        return refused(errors_in_one_line(form))
    if reason := too_big(cases, kind):
        return refused(reason)
    return None


@login_required
def export_csv(request):
    cases, form = filtered_cases(request)
    if refusal := export_refusal(cases, form, "csv"):
        return refusal
    writer = csv.writer(Echo())

    def lines():
        yield "\ufeff"  # a BOM, so that Excel reads the Chinese text as UTF-8
        yield writer.writerow(export_header())
        for row in export_rows(cases, request.user):
            yield writer.writerow(
                [
                    value.strftime("%Y-%m-%d %H:%M") if hasattr(value, "strftime") else safe(value)
                    for value in row
                ]
            )

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename("csv")}"'
    return response


@login_required
def export_xlsx(request):
    cases, form = filtered_cases(request)
    if refusal := export_refusal(cases, form, "xlsx"):
        return refusal
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(_("Cases"))
    sheet.append(export_header())
    for row in export_rows(cases, request.user):
        # A control character pasted into a description (Word's vertical tab) is refused
        # by the file format: openpyxl raised, and nobody's export held the case any more.
        sheet.append([xlsx_value(sheet, value) for value in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    response = HttpResponse(
        buffer.getvalue(),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    response["Content-Disposition"] = f'attachment; filename="{filename("xlsx")}"'
    return response
