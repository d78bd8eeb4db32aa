"""categories.csv: `code,name,parent_code,accept_hours,resolve_days`.

A parent may be defined later in the same file or exist already. The file is the truth for
the rows it names: an empty `parent_code` makes the category a root.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from departments.importers.checks import (
    check_code,
    check_positive_decimal,
    check_text,
    note_case_clashes,
    note_duplicate,
)
from departments.importers.plans import CREATE, UPDATE, ImportPlan, plan_row, write_rows
from departments.importers.reading import read_csv
from departments.models import Category, RoutingStamp

COLUMNS = ("code", "name", "parent_code", "accept_hours", "resolve_days")


def plan_categories(data: bytes | str, *, progress=None) -> ImportPlan:
    """Check categories.csv against the database; upserts keyed by `code`; no cycles."""
    plan = ImportPlan(subject="categories", writer=_write, progress=progress)
    parsed = []
    seen: dict[str, int] = {}
    # Every row's parent, bad rows' too: an unknown parent is said with the row's other
    # errors, not only once they are fixed.
    parents_named: list[tuple[int, str]] = []
    for row in read_csv(data, COLUMNS, plan):
        line, v = row.line, row.values
        errors_before = len(plan.errors)
        code = check_code(v["code"], plan, line, "code")
        name = check_text(v["name"], plan, line, "name", 100)
        parent_code = v["parent_code"]
        if parent_code:
            if parent_code == code:
                plan.error(line, "parent_code", _("a category cannot be its own parent."))
            elif check_code(parent_code, plan, line, "parent_code"):
                parents_named.append((line, parent_code))
        accept_hours = check_positive_decimal(v["accept_hours"], plan, line, "accept_hours")
        resolve_days = check_positive_decimal(v["resolve_days"], plan, line, "resolve_days")
        if code and note_duplicate(seen, code, plan, line, "code", code):
            continue
        if len(plan.errors) == errors_before:
            values = {
                "code": code,
                "name": name,
                "accept_hours": accept_hours,
                "resolve_days": resolve_days,
            }
            parsed.append((line, code, parent_code, values))
    note_case_clashes(Category, [(line, code) for line, code, _p, _v in parsed], plan, "code")
    if not parsed and not parents_named:
        return plan

    # A bad row still counts as naming its code.
    existing = {cat.code: cat for cat in Category.objects.select_related("parent")}
    in_file = set(seen)
    for line, parent_code in parents_named:
        if parent_code not in in_file and parent_code not in existing:
            plan.error(
                line, "parent_code", _("unknown category “%(code)s”.") % {"code": parent_code}
            )
    # Loops are looked for among the rows that are otherwise good, even when others are bad.
    # The parent of every category once the file is in: the file's word, else the database's.
    parent_of = {code: (cat.parent.code if cat.parent else "") for code, cat in existing.items()}
    for _line, code, parent_code, _values in parsed:
        parent_of[code] = parent_code
    for line, code, _parent, _values in parsed:
        if loop := ancestor_loop(code, parent_of):
            plan.error(line, "parent_code", own_ancestor_message(loop))
    if plan.errors:
        plan.errors.sort(key=lambda error: error.line or 0)  # both passes, in file order
        return plan

    for line, code, parent_code, values in parsed:
        row = plan_row(line, code, existing.get(code), values)
        old_parent = (
            existing[code].parent.code if code in existing and existing[code].parent else ""
        )
        if parent_code != old_parent:
            row.changes["parent_code"] = (old_parent or None, parent_code or None)
            if row.action != CREATE:
                row.action = UPDATE
        row.values = {**values, "parent_code": parent_code}
        plan.rows.append(row)
    return plan


def ancestor_loop(key, parent_of: dict) -> list | None:
    """The chain from `key` up through its parents back to itself (`key` first and last)
    if `key` is in a loop, else None. A loop above `key` is not its own: it is reported on
    its own rows. Keys are codes here, primary keys in the admin's category form."""
    chain = [key]
    current = parent_of.get(key)
    while current:
        if current == key:
            return [*chain, key]
        if current in chain:
            return None
        chain.append(current)
        current = parent_of.get(current)
    return None


def own_ancestor_message(loop: list[str]) -> str:
    """The import's and the admin's words for a parent loop, over a chain of codes."""
    return _("“%(code)s” would be its own ancestor: %(chain)s.") % {
        "code": loop[0],
        "chain": " → ".join(loop),
    }


def _write(plan: ImportPlan) -> list:
    # Parents may be new too: create and update every row without its parent first, then
    # point every row at its parent in one bulk update.
    parent_codes = {row.key: row.values["parent_code"] for row in plan.rows}
    created = write_rows(Category, plan.rows, skip=("parent_code",))
    codes = set(parent_codes) | {code for code in parent_codes.values() if code}
    by_code = Category.objects.in_bulk(list(codes), field_name="code")
    relinked = []
    for code, parent_code in parent_codes.items():
        category = by_code[code]
        parent_id = by_code[parent_code].pk if parent_code else None
        if category.parent_id != parent_id:
            category.parent_id = parent_id
            relinked.append(category)
    Category.objects.bulk_update(relinked, ["parent"], batch_size=1000)
    # Bulk writes send no signals: tell the router and calendar caches ourselves.
    RoutingStamp.bump()
    return created
