"""The plan of an import (SPEC §5) and applying it: what each row would do, the errors
that stop it, and the one transaction that writes it.

Every import is two steps, so that a command and an admin preview run the same code:
`plan_<subject>(data)` reads and checks a whole file against the database and says, row by
row, what would be created, updated or left unchanged; `apply(plan)` then writes all of it
in one transaction, or nothing if any row is wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy

CREATE, UPDATE, UNCHANGED = "create", "update", "unchanged"
PROGRESS_EVERY = 1000


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
