"""The machinery shared by the importers of SPEC §5: reading a file, the plan, applying it.

Every import is two steps, so that a command and an admin preview run the same code:
`plan_<subject>(data)` reads and checks a whole file against the database and says, row by
row, what would be created, updated or left unchanged; `apply(plan)` then writes all of it
in one transaction, or nothing if any row is wrong.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from operator import itemgetter
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import TextChoices
from django.db.models.functions import Lower
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy

CREATE, UPDATE, UNCHANGED = "create", "update", "unchanged"
PROGRESS_EVERY = 1000

# Codes are short English identifiers (SPEC: "English codes"): letters, digits, - _ .
CODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
# ISO (2024-01-02), or the year-first short date Excel writes when it saves in a Chinese
# locale a file it opened (2024/1/2), or one typed with dashes and no zeros (2024-1-2):
# with the year first, none reads two ways.
DATE_PATTERN = re.compile(r"^(\d{4})([-/])(\d{1,2})\2(\d{1,2})$")


class RowError(tuple):
    """One thing wrong with the file: (line, field, message), where `line` is the line (CSV),
    the feature's position (GeoJSON, `unit` "feature"), or None for the whole file.

    A tuple, so that callers may unpack or compare it as one; `str()` gives the message
    the commands print: "line 4: role: …"."""

    def __new__(cls, line: int | None, field: str, message: str, unit: str = "line"):
        error = super().__new__(cls, (line, field, message))
        error.unit = unit
        return error

    line = property(itemgetter(0))
    field = property(itemgetter(1))
    message = property(itemgetter(2))

    def __repr__(self) -> str:
        return f"RowError({self.line!r}, {self.field!r}, {self.message!r}, unit={self.unit!r})"

    def __str__(self) -> str:
        # A column keeps the name it has in the file; the other places are words.
        place = str(PLACES.get(self.field, self.field))
        if self.line is None:
            return _("%(place)s: %(message)s") % {"place": place, "message": self.message}
        # One translatable pattern: Chinese separates with full-width colons.
        return _("%(position)s: %(place)s: %(message)s") % {
            "position": position(self.unit, self.line),
            "place": place,
            "message": self.message,
        }


# Where an error is that is not one of the file's columns.
PLACES = {
    "header": pgettext_lazy("where an import error is", "header"),
    "row": pgettext_lazy("where an import error is", "row"),
    "file": pgettext_lazy("where an import error is", "file"),
}


def position(unit: str, number: int) -> str:
    """“line 7” or “feature 7”, in the user's language."""
    if unit == "feature":
        return _("feature %(number)d") % {"number": number}
    return _("line %(number)d") % {"number": number}


@dataclass
class RowPlan:
    """What importing one row does: `action` is create, update or unchanged; `changes`
    maps each changed field to (old, new) for an update, or to (None, new) for a create."""

    line: int
    key: Any
    action: str
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    instance: Any = None


@dataclass
class ImportPlan:
    """A checked file: its errors, and what each row would do. Build one with a `plan_*`
    function; hand it to `apply`. A plan with errors cannot be applied."""

    subject: str
    # What errors count in: "line" for CSV (the physical line), "feature" for GeoJSON.
    unit: str = "line"
    rows: list[RowPlan] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    # What is odd but importable (cells that overlap): shown in the preview and printed by
    # the command; they do not stop the import.
    warnings: list[RowError] = field(default_factory=list)
    # Writes the plan's rows; set by the planner. Returns the created objects.
    writer: Callable[[ImportPlan], list] | None = None
    # Other records the import creates or updates along the way (the grid's townships).
    side_rows: list[RowPlan] = field(default_factory=list)
    side_model: type | None = None
    # Called with the number of rows read so far, every PROGRESS_EVERY rows (big files).
    progress: Callable[[int], None] | None = None

    def tick(self, count: int) -> None:
        if self.progress is not None and count % PROGRESS_EVERY == 0:
            self.progress(count)

    @property
    def summary(self) -> dict[str, int]:
        return _count(self.rows)

    @property
    def side_summary(self) -> dict[str, int]:
        return _count(self.side_rows)

    @property
    def has_changes(self) -> bool:
        return any(row.action != UNCHANGED for row in [*self.rows, *self.side_rows])

    @property
    def unit_label(self) -> str:
        """The heading of the preview's first column, in the user's language."""
        return _("Feature") if self.unit == "feature" else _("Line")

    def error(self, line: int | None, field_name: str, message: str) -> None:
        self.errors.append(RowError(line, field_name, message, self.unit))

    def warn(self, line: int | None, field_name: str, message: str) -> None:
        self.warnings.append(RowError(line, field_name, message, self.unit))


def _count(rows: Sequence[RowPlan]) -> dict[str, int]:
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    names = {CREATE: "created", UPDATE: "updated", UNCHANGED: "unchanged"}
    for row in rows:
        counts[names[row.action]] += 1
    return counts


def format_summary(counts: dict[str, int]) -> str:
    return _("created %(created)d, updated %(updated)d, unchanged %(unchanged)d") % counts


class ImportRefused(Exception):
    """`apply` was given a plan with errors; nothing was written."""

    def __init__(self, errors: Sequence[RowError]):
        self.errors = list(errors)
        super().__init__("\n".join(str(error) for error in self.errors))


@dataclass
class ImportResult:
    """What `apply` did. `created` holds the new objects (e.g. the users to invite)."""

    summary: dict[str, int]
    created: list = field(default_factory=list)
    side_summary: dict[str, int] = field(default_factory=dict)


def apply(plan: ImportPlan) -> ImportResult:
    """Write every row of `plan` in one transaction; refuse a plan with errors.

    All-or-nothing: a database error part-way rolls back the whole file. Callers that need
    follow-ups (invitation emails) use `ImportResult.created`, after commit.
    """
    if plan.errors:
        raise ImportRefused(plan.errors)
    with transaction.atomic():
        created = plan.writer(plan) if plan.writer and plan.has_changes else []
    return ImportResult(summary=plan.summary, created=created, side_summary=plan.side_summary)


# -- reading -----------------------------------------------------------------------------

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


def read_csv(data: bytes | str, columns: Sequence[str], plan: ImportPlan) -> Iterator[CsvRow]:
    """Yield the rows of a CSV file with exactly `columns` in its header, values stripped.
    The header's names count in any letter case ("Code" is `code`), without the BOM or
    zero-width marks some tools leave in them.

    Header problems (missing, extra or repeated columns) are errors on line 1 and stop the
    reading; a row with the wrong number of fields is an error on its own line. `line` is
    the physical line where the row starts; blank lines are skipped.
    """
    text = decode(data, plan)
    if text is None:
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
    except StopIteration:
        plan.error(None, "file", _("the file is empty: the first row must be the header."))
        return
    except csv.Error as error:
        plan.error(1, "header", str(error))
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
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            plan.error(line, "row", str(error))
            return
        if (
            source.tell() == len(text)
            and reader.line_num > line
            and any("\n" in value or "\r" in value for value in row)
            and text.count('"') % 2
        ):
            # A quote never closed swallows every line after it into one value: the field
            # count or the value's check would only puzzle.
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


# -- checking values -----------------------------------------------------------------------


# How Excel saves a number of 12 digits or more (a 12-digit administrative division code,
# 330102001001) from a column of the General format: as shown, in scientific notation.
EXCEL_SCIENTIFIC = re.compile(r"^\d(\.\d+)?E\+\d+$")


def excel_shortened(value: str) -> str | None:
    """Why `value` cannot be the code it was, when Excel shortened it; else None."""
    if not EXCEL_SCIENTIFIC.match(value):
        return None
    return _(
        "“%(value)s” is a long number Excel showed in scientific notation and saved so, "
        "losing its digits: in Excel, format the column as Text, type the codes again and "
        "save."
    ) % {"value": value}


def check_code(value: str, plan: ImportPlan, line: int, field_name: str, max_length: int = 32):
    if not value:
        plan.error(line, field_name, _("is required."))
        return None
    if message := excel_shortened(value):
        plan.error(line, field_name, message)
        return None
    if len(value) > max_length:
        plan.error(line, field_name, _("is longer than %(n)d characters.") % {"n": max_length})
        return None
    if not CODE_PATTERN.match(value):
        plan.error(line, field_name, not_a_code(value))
        return None
    return value


def not_a_code(value: str) -> str:
    """What is wrong with `value` as a code: the import's words and the admin's."""
    return _(
        "“%(value)s” is not a code: begin with a Latin letter (A–Z) or a digit, "
        "then letters, digits, “-”, “_” or “.”."
    ) % {"value": value}


def note_case_clashes(
    model, codes: list[tuple[int, str]], plan: ImportPlan, field_name: str, key: str = "code"
):
    """An error on each (line, code) that differs from a stored `key`, or from one earlier
    in the file, only in letter case: "urban" beside "URBAN" would quietly be a second
    department, not an update of the first. One query."""
    if not codes:
        return
    first_in_file: dict[str, str] = {}
    for line, code in codes:
        first = first_in_file.setdefault(code.lower(), code)
        if first != code:
            plan.error(
                line,
                field_name,
                _("“%(code)s” differs from “%(first)s” earlier in the file only in letter case.")
                % {"code": code, "first": first},
            )
    stored = set(
        model.objects.annotate(lower_key=Lower(key))
        .filter(lower_key__in={code.lower() for _line, code in codes})
        .values_list(key, flat=True)
    )
    by_lower = {code.lower(): code for code in stored}
    for line, code in codes:
        if code not in stored and code.lower() in by_lower:
            plan.error(
                line,
                field_name,
                _("“%(code)s” differs from the existing “%(stored)s” only in letter case.")
                % {"code": code, "stored": by_lower[code.lower()]},
            )


def check_text(
    value: str, plan: ImportPlan, line: int, field_name: str, max_length: int, required=True
):
    if required and not value:
        plan.error(line, field_name, _("is required."))
        return None
    if len(value) > max_length:
        plan.error(line, field_name, _("is longer than %(n)d characters.") % {"n": max_length})
        return None
    return value


def check_positive_decimal(value: str, plan: ImportPlan, line: int, field_name: str):
    """A number > 0 that fits DecimalField(max_digits=7, decimal_places=2)."""
    if not value:
        plan.error(line, field_name, _("is required."))
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        plan.error(line, field_name, _("“%(value)s” is not a number.") % {"value": value})
        return None
    if not number.is_finite() or number <= 0:
        plan.error(
            line,
            field_name,
            _("must be a number greater than 0, not “%(value)s”.") % {"value": value},
        )
        return None
    # Too big first: quantizing 1e30 to cents overflows the decimal context.
    if number >= Decimal("100000"):
        plan.error(
            line,
            field_name,
            _("“%(value)s” has too many digits: at most 99999.99.") % {"value": value},
        )
        return None
    if number != number.quantize(Decimal("0.01")):
        # 0.001 would be stored as 0.00: the digits that matter are the decimal places.
        plan.error(
            line,
            field_name,
            _("“%(value)s” has too many decimal places: at most 2.") % {"value": value},
        )
        return None
    return number.quantize(Decimal("0.01"))


def check_date(value: str, plan: ImportPlan, line: int, field_name: str):
    """An ISO date (YYYY-MM-DD, or YYYY-M-D) or Excel's YYYY/M/D, or None for an empty value.
    Returns (ok, date)."""
    from datetime import date

    if not value:
        return True, None
    try:
        match = DATE_PATTERN.match(value)
        if not match:
            raise ValueError(value)
        year, _separator, month, day = match.groups()
        return True, date(int(year), int(month), int(day))
    except ValueError:
        plan.error(
            line, field_name, _("“%(value)s” is not a date: use YYYY-MM-DD.") % {"value": value}
        )
        return False, None


def not_a_role(value: str, roles: type[TextChoices]) -> str:
    """Why `value` is no role of `roles`: naming the code to write when it is one in other
    letter case, or a role's name in either language (the admin's lists and the import
    preview show "网格员" where the file needs "caseworker")."""
    wanted = value.casefold()
    for code, label in roles.choices:
        names = {code.casefold()}
        for language, _name in settings.LANGUAGES:
            with translation.override(language):
                names.add(str(label).casefold())
        if wanted in names:
            return _("“%(value)s” is not a role: write it as “%(code)s”.") % {
                "value": value,
                "code": code,
            }
    # The codes joined by a comma, not by an English "or" inside a Chinese line.
    return _("“%(value)s” is not a role: use one of %(choices)s.") % {
        "value": value,
        "choices": ", ".join(roles.values),
    }


# The longest address mail servers take (RFC 5321), as the user and outbox columns hold.
EMAIL_MAX_LENGTH = 254


def is_email_address(value: str) -> bool:
    """An address mail can be sent to: Django's check, which allows 320 characters, and
    the EMAIL_MAX_LENGTH that mail servers and the outbox keep to."""
    try:
        validate_email(value)
    except ValidationError:
        return False
    return len(value) <= EMAIL_MAX_LENGTH


def check_email(value: str, plan: ImportPlan, line: int, field_name: str):
    if not is_email_address(value):
        plan.error(line, field_name, _("“%(value)s” is not an email address.") % {"value": value})
        return None
    return value


def note_duplicate(seen: dict, key, plan: ImportPlan, line: int, field_name: str, label: str):
    """Record `key` as seen on `line`; an error if an earlier row had the same key."""
    if key in seen:
        plan.error(
            line,
            field_name,
            _("%(key)s appears twice (first in %(position)s).")
            % {"key": label, "position": position(plan.unit, seen[key])},
        )
        return True
    seen[key] = line
    return False


def diff(instance, values: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """The fields of `instance` that `values` would change: {field: (old, new)}."""
    return {
        name: (getattr(instance, name), new)
        for name, new in values.items()
        if getattr(instance, name) != new
    }


def plan_row(line: int, key, instance, values: dict[str, Any]) -> RowPlan:
    """A create when there is no instance, else an update or unchanged after a diff."""
    if instance is None:
        return RowPlan(line, key, CREATE, {name: (None, v) for name, v in values.items()}, values)
    changes = diff(instance, values)
    return RowPlan(line, key, UPDATE if changes else UNCHANGED, changes, values, instance)


def write_rows(
    model, rows: Sequence[RowPlan], *, skip: Sequence[str] = (), batch_size=1000
) -> list:
    """bulk_create the planned creates and bulk_update the planned updates of `model`;
    the fields in `skip` are not model fields (the caller writes them)."""
    creates = [row for row in rows if row.action == CREATE]
    new = [model(**{k: v for k, v in row.values.items() if k not in skip}) for row in creates]
    created = model.objects.bulk_create(new, batch_size=batch_size)
    for row, obj in zip(creates, created, strict=True):
        row.instance = obj
    changed = [row for row in rows if row.action == UPDATE]
    fields = sorted({name for row in changed for name in row.changes if name not in skip})
    for row in changed:
        for name in fields:
            setattr(row.instance, name, row.values[name])
    if changed and fields:
        model.objects.bulk_update([row.instance for row in changed], fields, batch_size=batch_size)
    return created
