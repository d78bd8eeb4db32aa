"""responsibilities.csv: `category_code,department_code,scope,role,basis,valid_from,valid_to`.

`scope` is empty (everywhere), a township code or a cell code. Rows are keyed by
(category, department, scope, role), the database's `responsibility_unique_key`.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from departments.importers.checks import (
    check_date,
    check_text,
    excel_shortened,
    not_a_role,
    note_duplicate,
)
from departments.importers.plans import ImportPlan, plan_row, write_rows
from departments.importers.reading import read_csv
from departments.models import (
    Category,
    Department,
    GridCell,
    Responsibility,
    RoutingStamp,
    Township,
)

COLUMNS = ("category_code", "department_code", "scope", "role", "basis", "valid_from", "valid_to")
ROLES = tuple(Responsibility.Role.values)


def plan_responsibilities(data: bytes | str, *, progress=None) -> ImportPlan:
    """Check responsibilities.csv against the database; every code must exist."""
    plan = ImportPlan(subject="responsibilities", writer=_write, progress=progress)
    rows = list(read_csv(data, COLUMNS, plan))
    if not rows:
        return plan
    # Every code the file names, looked up in four queries whatever its size.
    categories = Category.objects.in_bulk(
        {r.values["category_code"] for r in rows}, field_name="code"
    )
    departments = Department.objects.in_bulk(
        {r.values["department_code"] for r in rows}, field_name="code"
    )
    scopes = {r.values["scope"] for r in rows if r.values["scope"]}
    townships = Township.objects.in_bulk(scopes, field_name="code")
    cells = GridCell.objects.in_bulk(scopes, field_name="code")

    parsed = []
    seen: dict[tuple, int] = {}
    for row in rows:
        line, v = row.line, row.values
        errors_before = len(plan.errors)
        category = _lookup(
            categories, v["category_code"], plan, line, "category_code", _("category")
        )
        department = _lookup(
            departments, v["department_code"], plan, line, "department_code", _("department")
        )
        scope = v["scope"]
        township = cell = None
        if scope:
            township, cell = townships.get(scope), cells.get(scope)
            if township and cell:
                plan.error(
                    line,
                    "scope",
                    _("“%(code)s” is both a township and a grid cell code: rename one.")
                    % {"code": scope},
                )
            elif not township and not cell:
                plan.error(
                    line,
                    "scope",
                    excel_shortened(scope)
                    or _("unknown scope “%(code)s”: not a township or grid cell code.")
                    % {"code": scope},
                )
        role = v["role"]
        if role not in ROLES:
            plan.error(line, "role", not_a_role(role, Responsibility.Role))
        basis = check_text(v["basis"], plan, line, "basis", 10_000, required=False)
        ok_from, valid_from = check_date(v["valid_from"], plan, line, "valid_from")
        ok_to, valid_to = check_date(v["valid_to"], plan, line, "valid_to")
        if ok_from and ok_to and valid_from and valid_to and valid_from > valid_to:
            plan.error(line, "valid_to", _("ends before valid_from."))
        key = (v["category_code"], v["department_code"], scope, role)
        if note_duplicate(seen, key, plan, line, "row", "/".join(key)):
            continue
        if len(plan.errors) == errors_before:
            values = {
                "category_id": category.pk,
                "department_id": department.pk,
                "township_id": township.pk if township else None,
                "cell_id": cell.pk if cell else None,
                "role": role,
                "basis": basis,
                "valid_from": valid_from,
                "valid_to": valid_to,
            }
            parsed.append((line, key, values))
    if plan.errors:
        return plan

    existing = {
        (r.category_id, r.department_id, r.township_id, r.cell_id, r.role): r
        for r in Responsibility.objects.filter(
            category__in=[values["category_id"] for _l, _k, values in parsed]
        )
    }
    for line, key, values in parsed:
        db_key = tuple(
            values[name]
            for name in ("category_id", "department_id", "township_id", "cell_id", "role")
        )
        plan.rows.append(plan_row(line, key, existing.get(db_key), values))
    return plan


def _lookup(found: dict, code: str, plan: ImportPlan, line: int, field_name: str, what: str):
    if not code:
        plan.error(line, field_name, _("is required."))
        return None
    if code not in found:
        plan.error(
            line,
            field_name,
            excel_shortened(code)
            or _("unknown %(what)s “%(code)s”.") % {"what": what, "code": code},
        )
        return None
    return found[code]


def _write(plan: ImportPlan) -> list:
    created = write_rows(Responsibility, plan.rows)
    # Bulk writes send no signals: tell the router's cache ourselves.
    RoutingStamp.bump()
    return created
