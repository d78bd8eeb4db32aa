"""Importers of the reference data (SPEC §5), one per file format, each in two steps:
`plan_<subject>(data)` → `ImportPlan` (errors, and per row: create, update or unchanged
with the changes), then `apply(plan)` → `ImportResult`, in one transaction.

Used by the `import_*` commands, `seed_demo` and the admin's import with preview.
"""

from departments.importers import (
    categories,
    departments,
    grid_features,
    responsibilities,
    users,
)
from departments.importers.categories import plan_categories
from departments.importers.departments import plan_departments
from departments.importers.grid import plan_grid
from departments.importers.plans import (
    CREATE,
    UNCHANGED,
    UPDATE,
    ImportPlan,
    ImportRefused,
    ImportResult,
    RowError,
    RowPlan,
    apply,
    format_summary,
)
from departments.importers.responsibilities import plan_responsibilities
from departments.importers.users import plan_users

# Command name's subject → planner, in the order a fresh district must be loaded.
PLANNERS = {
    "grid": plan_grid,
    "departments": plan_departments,
    "categories": plan_categories,
    "responsibilities": plan_responsibilities,
    "users": plan_users,
}

# The columns of each CSV format (SPEC §5), and the properties of a grid cell's feature:
# the admin's import page names them.
COLUMNS = {
    "grid": grid_features.PROPERTIES,
    "departments": departments.COLUMNS,
    "categories": categories.COLUMNS,
    "responsibilities": responsibilities.COLUMNS,
    "users": users.COLUMNS,
}

__all__ = [
    "COLUMNS",
    "CREATE",
    "PLANNERS",
    "UNCHANGED",
    "UPDATE",
    "ImportPlan",
    "ImportRefused",
    "ImportResult",
    "RowError",
    "RowPlan",
    "apply",
    "format_summary",
    "plan_categories",
    "plan_departments",
    "plan_grid",
    "plan_responsibilities",
    "plan_users",
]
