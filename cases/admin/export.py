"""CSV downloads from the admin, streamed so a large export does not sit in memory."""

import csv
from collections.abc import Iterable, Sequence

from django.contrib import messages
from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.translation import gettext

from cases.spreadsheets import Echo, safe, too_big


def local_iso(moment) -> str:
    """A moment in the site's time zone, with its offset: 17:00+08:00, not 09:00+00:00."""
    return timezone.localtime(moment).isoformat() if moment else ""


def csv_response(filename: str, header: Sequence[str], rows: Iterable[Sequence]):
    """A UTF-8 CSV download (with a BOM, so spreadsheet programs read Chinese right), in
    which no text a reporter typed can run as a formula."""
    writer = csv.writer(Echo())

    def lines():
        yield "\ufeff" + writer.writerow(header)
        for row in rows:
            yield writer.writerow([safe(value) for value in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def refused_as_too_big(model_admin, request, queryset) -> bool:
    """True, having told the user why, when the selection is more rows than one CSV
    download can hold (`cases.spreadsheets.EXPORT_MAX_ROWS`); the action then returns
    to the list."""
    reason = too_big(queryset, "csv")
    if reason:
        model_admin.message_user(
            request,
            gettext("Nothing was exported: %(reason)s") % {"reason": reason},
            messages.ERROR,
        )
    return bool(reason)
