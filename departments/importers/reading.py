"""Reading an import file: its text (UTF-8, or an error that names what it is instead)
and, for the CSV formats, its rows under a checked header."""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from django.utils.translation import gettext as _

from departments.importers.plans import ImportPlan

# How an .xlsx (a ZIP archive) and an .xls (an OLE compound file) begin.
OFFICE_SIGNATURES = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")


def decode(data: bytes | str, plan: ImportPlan) -> str | None:
    """The file's text, without a UTF-8 BOM; None (and an error) if it is not UTF-8."""
    if isinstance(data, str):
        text = data.removeprefix("\ufeff")
    elif data.startswith(OFFICE_SIGNATURES):
        # Its bytes say nothing useful about an encoding: name what was given instead.
        if plan.unit == "line":
            message = _(
                "this is an Excel workbook, not a CSV file: in Excel, save it as "
                "“CSV UTF-8 (Comma delimited)”."
            )
        else:
            message = _(
                "this is a ZIP archive or an Office file, not GeoJSON text: convert the grid "
                "to GeoJSON in WGS84, e.g. with ogr2ogr -f GeoJSON -t_srs EPSG:4326."
            )
        plan.error(None, "file", message)
        return None
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            hint = ""
            try:
                if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                    hint = (
                        _(" (it is UTF-16, as Excel's “Unicode Text” saves: save it as CSV UTF-8)")
                        if plan.unit == "line"
                        # A grid file is no spreadsheet: Excel and CSV would mislead.
                        else _(" (it is UTF-16: save it as UTF-8)")
                    )
                else:
                    data.decode("gb18030")
                    hint = _(" (it looks like GBK/GB18030: save it as UTF-8)")
            except UnicodeDecodeError:
                pass
            plan.error(
                # GeoJSON's errors count features, not lines: there the byte says where.
                data.count(b"\n", 0, error.start) + 1 if plan.unit == "line" else None,
                "file",
                _("not UTF-8 encoded: byte %(position)d of the file is invalid%(hint)s.")
                % {"position": error.start + 1, "hint": hint},
            )
            return None
    if (nul := text.find("\x00")) >= 0:
        # No database stores it in text, and a spreadsheet's own format is full of them.
        plan.error(
            text.count("\n", 0, nul) + 1 if plan.unit == "line" else None,
            "file",
            _("contains a NUL character: is this really a CSV file saved as UTF-8 text?")
            if plan.unit == "line"
            else _("contains a NUL character: is this really a GeoJSON file saved as UTF-8 text?"),
        )
        return None
    return text


@dataclass
class CsvRow:
    line: int
    values: dict[str, str]


# A header of another file can hold hundreds of names: a few say enough.
MAX_NAMED_COLUMNS = 10


def _csv_error_words(error: csv.Error) -> str:
    """The csv module's refusal, in the site's language where a file can meet it (a NUL is
    refused before reading: `decode`)."""
    if str(error).startswith("field larger than field limit"):
        return _('a value is longer than %(limit)s characters: is a quote (") left open above?') % {
            "limit": f"{csv.field_size_limit():,}"
        }
    return str(error)


def read_csv(
    data: bytes | str,
    columns: Sequence[str],
    plan: ImportPlan,
    *,
    spilled: Callable[[str, dict[str, list[str]]], str | None] | None = None,
) -> Iterator[CsvRow]:
    """Yield the rows of a CSV file with exactly `columns` in its header, values stripped.
    The header's names count in any letter case ("Code" is `code`), without the BOM or
    zero-width marks some tools leave in them.

    Header problems (missing, extra or repeated columns) are errors on line 1 and stop the
    reading; a row with the wrong number of fields is an error on its own line. `line` is
    the physical line where the row starts; blank lines are skipped.

    `spilled` explains a row of too many fields: given the message and, for each column,
    the fields it may have been split into by commas (its own and the surplus after it),
    it returns the message with a hint, or None.
    """
    text = decode(data, plan)
    if text is None:
        return
    if not text.strip():
        # Blank lines or spaces only (a sheet saved with nothing in it): not a header that
        # lacks every column.
        plan.error(None, "file", _("the file is empty: the first row must be the header."))
        return
    if text.lstrip().startswith(("{", "[")):
        # Its every key and value would be listed as an unexpected column.
        plan.error(
            1,
            "file",
            _(
                "this is JSON (a grid file?), not CSV: "
                "its first row must be the header %(expected)s."
            )
            % {"expected": ",".join(columns)},
        )
        return
    source = io.StringIO(text, newline="")
    reader = csv.reader(source)
    try:
        header = next(reader)
    except csv.Error as error:
        plan.error(1, "header", _csv_error_words(error))
        return
    if message := _other_separator(header, columns):
        plan.error(1, "header", message)
        return
    # As written, for the messages; compared as column names, case and invisible marks aside.
    written = [_visible(name) for name in header]
    header = [name.lower() for name in written]
    # A spreadsheet saves the empty columns at the right of its table as ",,": a column
    # with neither a name nor a value in any row is no column of the file.
    unnamed = [index for index, name in enumerate(header) if not name]
    ignored = _empty_columns(text[source.tell() :], unnamed) if unnamed else set()
    named = [name for index, name in enumerate(header) if index not in ignored]
    missing = [name for name in columns if name not in named]
    extra = [
        written[index]
        for index, name in enumerate(header)
        if index not in ignored and name not in columns
    ]
    # Columns without a name are unexpected already (one with a value somewhere):
    # "repeated columns: " with nothing after it would say nothing.
    repeated = sorted({name for name in named if name and named.count(name) > 1})
    if missing and (later := _header_below(text[source.tell() :], columns, reader.line_num)):
        plan.error(
            1,
            "header",
            _(
                "the first row must be the header, and the header is on line %(line)d: "
                "delete the rows above it (a title, notes)."
            )
            % {"line": later},
        )
        return
    if missing:
        plan.error(1, "header", _("missing columns: %(names)s") % {"names": ", ".join(missing)})
    if extra:
        names = [name or '""' for name in extra]
        if len(names) > MAX_NAMED_COLUMNS:
            names = [*names[:MAX_NAMED_COLUMNS], "…"]
        plan.error(
            1,
            "header",
            _("unexpected columns: %(names)s (the columns are %(expected)s)")
            % {"names": ", ".join(names), "expected": ",".join(columns)},
        )
    if repeated:
        plan.error(1, "header", _("repeated columns: %(names)s") % {"names": ", ".join(repeated)})
    if missing or extra or repeated:
        return
    next_line = reader.line_num + 1
    count = 0
    while True:
        line = next_line
        row_starts_at = source.tell()
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            plan.error(line, "row", _csv_error_words(error))
            return
        if source.tell() == len(text) and _opens_a_quote_it_never_closes(text[row_starts_at:]):
            # A quote never closed swallows every line after it (on the last line, the rest
            # of its row) into one value: the field count or the value's check would only
            # puzzle.
            plan.error(
                line,
                "row",
                _(
                    'a quote (") opened on this line is never closed, so the rest of the '
                    "file was read as one value: close it, or write a quote inside a quoted "
                    'value as two ("").'
                ),
            )
            return
        next_line = reader.line_num + 1
        count += 1
        plan.tick(count)
        if not row or all(not value.strip() for value in row):
            continue
        if len(row) != len(header):
            message = _("expected %(expected)d fields, found %(found)d") % {
                "expected": len(header),
                "found": len(row),
            }
            # One field holding the whole row: typed or saved with other separators.
            if len(row) == 1 and (mark := _separator_in(row)):
                message = _separators_message(message, mark)
            elif spilled and len(row) > len(header):
                surplus = len(row) - len(header)
                split = {
                    name: row[index : index + surplus + 1] for index, name in enumerate(header)
                }
                message = spilled(message, split) or message
            plan.error(line, "row", message)
            continue
        yield CsvRow(
            line,
            {
                name: value.strip()
                for index, (name, value) in enumerate(zip(header, row, strict=True))
                if index not in ignored
            },
        )


def _opens_a_quote_it_never_closes(row_text: str) -> bool:
    """Whether the text of a row the reader ended at the end of the file begins a field
    with a quote and holds an odd number of them: the last quote opened is never closed.
    A quote inside an unquoted value (5" pipe) opens nothing."""
    return row_text.count('"') % 2 == 1 and re.search(r'(?:^|,)"', row_text) is not None


# What a header may carry unseen: a second BOM (a file saved with one twice), a BOM inside
# the first quoted name, zero-width spaces pasted from a web page or a chat.
INVISIBLE = dict.fromkeys(map(ord, "\ufeff\u200b\u200c\u200d\u2060"))
# What is typed or saved between columns instead of a comma: Excel's "Text (Tab delimited)"
# and a table pasted from Excel hold tabs, a European Excel writes ";", a Chinese input
# method types the full-width "，" and "；".
OTHER_SEPARATORS = ("\t", ";", "，", "；")


def _visible(name: str) -> str:
    return name.translate(INVISIBLE).strip()


def _separator_in(values: Sequence[str]) -> str | None:
    """The first of OTHER_SEPARATORS found in `values`, if any."""
    return next((mark for mark in OTHER_SEPARATORS if any(mark in v for v in values)), None)


def _shown(mark: str) -> str:
    return _("a tab") if mark == "\t" else f"“{mark}”"


def _separators_message(message: str, mark: str) -> str:
    return _(
        "%(message)s: the fields seem separated by %(mark)s; a CSV file separates them by "
        "commas (“,”)."
    ) % {"message": message, "mark": _shown(mark)}


def _other_separator(header: list[str], columns: Sequence[str]) -> str | None:
    """Why a header of one field that holds the expected names between other marks is not
    read as those columns; None for any other header (its columns are checked by name)."""
    if len(header) != 1 or not (mark := _separator_in(header)):
        return None
    names = [_visible(name).lower() for name in header[0].split(mark)]
    if not set(columns) & set(names):
        return None
    return _(
        "the columns are separated by %(mark)s: a CSV file separates them by commas (“,”). "
        "In Excel, save the file as “CSV UTF-8 (Comma delimited)”."
    ) % {"mark": _shown(mark)}


# How far below the first row a header is looked for: a title and a few lines of notes.
HEADER_SEARCH_ROWS = 10


def _header_below(rest: str, columns: Sequence[str], lines_before: int) -> int | None:
    """The line of a row among the first few of `rest` (the file after its first row,
    which took `lines_before` lines) naming every one of `columns`: the header, below a
    title a spreadsheet has above its table ("城东街道权责清单"). None if there is none."""
    reader = csv.reader(io.StringIO(rest, newline=""))
    try:
        for _index in range(HEADER_SEARCH_ROWS):
            line = lines_before + reader.line_num + 1
            row = next(reader)
            if set(columns) <= {_visible(name).lower() for name in row}:
                return line
    except (StopIteration, csv.Error):
        pass
    return None


def _empty_columns(rest: str, indexes: list[int]) -> set[int]:
    """Which of the columns at `indexes` are empty in every row of `rest` (the file after
    its header). A row the reader cannot parse ends the look: read_csv reports it."""
    empty = set(indexes)
    try:
        for row in csv.reader(io.StringIO(rest, newline="")):
            empty -= {index for index in empty if index < len(row) and row[index].strip()}
            if not empty:
                break
    except csv.Error:
        pass
    return empty
