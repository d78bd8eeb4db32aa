"""What every spreadsheet download shares (the /cases/ exports and the admin's CSV)."""

import re

from django.utils.formats import number_format
from django.utils.translation import gettext as _
from openpyxl.cell import WriteOnlyCell

from cases.pagination import count_up_to

# A cell starting with one of these is a formula to Excel and LibreOffice (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


# Characters XML 1.0 cannot carry at all: control characters other than tab, LF and CR, and
# the noncharacters U+FFFE and U+FFFF. An XLSX sheet and the Open311 XML are both XML.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def xml_text(value: str) -> str:
    """`value` without the characters an XML file cannot hold."""
    return _XML_ILLEGAL.sub("", value)


class Echo:
    """A file that hands back what is written to it: `csv.writer(Echo()).writerow(row)`
    returns the row's line, for a streamed download."""

    def write(self, value):
        return value


def safe(value):
    """Text that a spreadsheet shows as text, never runs as a formula (for CSV, whose
    cells have no type: the apostrophe is the only way to say so)."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def xlsx_value(sheet, value):
    """A value for a write-only XLSX sheet's row: text as it was written, without the
    characters XML cannot hold, and typed as text where it looks like a formula."""
    if not isinstance(value, str):
        return value
    value = xml_text(value)
    if not value.startswith(FORMULA_PREFIXES):
        return value
    cell = WriteOnlyCell(sheet, value=value)
    cell.data_type = "s"  # openpyxl would write "=…" as a formula
    cell.quotePrefix = True  # as Excel marks typed text: edited, it stays text
    return cell


# The most rows one download holds: about 15 s of a web worker's time on a 2-core machine
# (some 125 µs a CSV row of cases, 300 µs an XLSX row), well inside gunicorn's 30 s
# timeout, which would cut a bigger one off mid-file.
EXPORT_MAX_ROWS = {"csv": 100_000, "xlsx": 50_000}


def too_big(rows, kind: str) -> str:
    """Why a download of the queryset `rows` in format `kind` is refused, or "" when it
    fits. The count stops at the limit (`count_up_to`), so it costs little however many
    match."""
    limit = EXPORT_MAX_ROWS[kind]
    if count_up_to(rows, limit) <= limit:
        return ""
    return _(
        "more than %(limit)s rows match, the most one %(kind)s export holds. Narrow the filters"
        " (the dates, state, township or category) and export in parts."
    ) % {"limit": number_format(limit, force_grouping=True), "kind": kind.upper()}
