"""Exports of the reference data in exactly the formats of SPEC §5, so that an export
imports back unchanged (`import_*` reports every row "unchanged")."""

from __future__ import annotations

import csv
import io
import json

from departments.importers.categories import COLUMNS as CATEGORY_COLUMNS
from departments.importers.responsibilities import COLUMNS as RESPONSIBILITY_COLUMNS
from departments.importers.users import COLUMNS as USER_COLUMNS
from departments.models import Category, Department, GridCell, Responsibility, User

DEPARTMENT_COLUMNS = ("code", "name", "supervisor_emails")


def _csv(header, rows) -> str:
    # A BOM, as the case exports have: Excel reads a CSV without one in the system's code
    # page (GBK on Chinese Windows) and garbles the names. The importers strip it.
    out = io.StringIO("\ufeff")
    out.seek(0, io.SEEK_END)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def _number(value) -> str:
    # 4.00 → "4", 2.50 → "2.5": what a person would type; the importer reads both.
    text = format(value.normalize(), "f")
    return text


def export_departments() -> str:
    rows = Department.objects.order_by("code").values_list("code", "name", "supervisor_emails")
    return _csv(DEPARTMENT_COLUMNS, rows)


def export_categories() -> str:
    categories = Category.objects.select_related("parent").order_by("code")
    return _csv(
        CATEGORY_COLUMNS,
        (
            [
                category.code,
                category.name,
                category.parent.code if category.parent_id else "",
                _number(category.accept_hours),
                _number(category.resolve_days),
            ]
            for category in categories
        ),
    )


def export_responsibilities() -> str:
    rules = Responsibility.objects.select_related(
        "category", "department", "township", "cell"
    ).order_by("category__code", "department__code", "role", "id")
    return _csv(
        RESPONSIBILITY_COLUMNS,
        (
            [
                rule.category.code,
                rule.department.code,
                rule.scope_code,
                rule.role,
                rule.basis,
                rule.valid_from.isoformat() if rule.valid_from else "",
                rule.valid_to.isoformat() if rule.valid_to else "",
            ]
            for rule in rules
        ),
    )


def export_users() -> str:
    users = (
        User.objects.exclude(role="").select_related("township", "department").order_by("username")
    )
    return _csv(
        USER_COLUMNS,
        (
            [
                user.username,
                user.full_name,
                user.email,
                user.role,
                user.township.code if user.township_id else "",
                user.department.code if user.department_id else "",
            ]
            for user in users
        ),
    )


def export_grid() -> str:
    cells = GridCell.objects.select_related("township").order_by("code")
    features = [
        {
            "type": "Feature",
            "geometry": cell.boundary,
            "properties": {
                "code": cell.code,
                "name": cell.name,
                "township_code": cell.township.code,
                "township_name": cell.township.name,
                "community": cell.community,
            },
        }
        for cell in cells
    ]
    document = {"type": "FeatureCollection", "features": features}
    # Compact: indented, a 6,000-cell district came to 21.7 MB, over the admin import's
    # 20 MB, so the admin could not take back its own export.
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n"


# subject → (exporter, file name, content type)
EXPORTERS = {
    "grid": (export_grid, "grid.geojson", "application/geo+json"),
    "departments": (export_departments, "departments.csv", "text/csv"),
    "categories": (export_categories, "categories.csv", "text/csv"),
    "responsibilities": (export_responsibilities, "responsibilities.csv", "text/csv"),
    "users": (export_users, "users.csv", "text/csv"),
}
