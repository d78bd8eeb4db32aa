"""The grid import: a grid file's cells (their features read by `grid_features`) against
each other and the stored grid, then written.

Cells are keyed by `code`; townships are created or renamed from the features. Across the
file: a township's name, a code that is both a cell's and a township's, cells that overlap.
Errors name the feature by its 1-based position in the collection.
"""

from __future__ import annotations

from collections import Counter

import shapely
from django.utils.translation import gettext as _
from shapely.geometry import shape

from departments.importers.checks import note_case_clashes, note_duplicate
from departments.importers.grid_features import check_feature, once_for_every_feature, read_features
from departments.importers.plans import UPDATE, ImportPlan, plan_row, write_rows
from departments.models import GridCell, RoutingStamp, Township
from departments.signals import cells_moved


def plan_grid(data: bytes | str, *, progress=None) -> ImportPlan:
    """Check a grid GeoJSON file against the database; cells keyed by `code`, townships by
    `township_code`. Geometries must be valid, non-empty polygons in WGS84 bounds."""
    plan = ImportPlan(subject="grid cells", unit="feature", writer=_write, progress=progress)
    features = read_features(data, plan)
    if features is None:
        return plan

    parsed = []
    # Every township code's names, each with the features that give it, in file order.
    names_of: dict[str, dict[str, list[int]]] = {}
    seen: dict[str, int] = {}
    for position, feature in enumerate(features, start=1):
        plan.tick(position)
        errors_before = len(plan.errors)
        values = check_feature(position, feature, plan)
        if values is None:
            continue
        code, township_code, township_name = (
            values["code"],
            values["township_code"],
            values["township_name"],
        )
        if note_duplicate(seen, code, plan, position, "code", code):
            continue
        names_of.setdefault(township_code, {}).setdefault(township_name, []).append(position)
        if len(plan.errors) == errors_before:
            parsed.append((position, values))
    once_for_every_feature(plan, len(features))
    townships = _township_names(names_of, plan)
    named_otherwise = {error.line for error in plan.errors if error.field == "township_name"}
    parsed = [(p, values) for p, values in parsed if p not in named_otherwise]
    note_case_clashes(GridCell, [(p, values["code"]) for p, values in parsed], plan, "code")
    note_case_clashes(
        Township, [(p, code) for code, (p, _name) in townships.items()], plan, "township_code"
    )
    _note_codes_of_both_kinds(parsed, townships, plan)
    if plan.errors:
        return plan
    _note_overlaps(parsed, plan)

    existing_townships = Township.objects.in_bulk(list(townships), field_name="code")
    plan.side_model = Township
    plan.side_rows = [
        plan_row(position, code, existing_townships.get(code), {"code": code, "name": name})
        for code, (position, name) in townships.items()
    ]
    existing = GridCell.objects.select_related("township").in_bulk(
        [values["code"] for _p, values in parsed], field_name="code"
    )
    for position, values in parsed:
        township = existing_townships.get(values["township_code"])
        cell_values = {
            "code": values["code"],
            "name": values["name"],
            "community": values["community"],
            "boundary": values["boundary"],
            **values["bbox"],
        }
        row = plan_row(position, values["code"], existing.get(values["code"]), cell_values)
        row.values["township_code"] = values["township_code"]
        if row.instance is None:
            row.changes["township_code"] = (None, values["township_code"])
        old_township = row.instance.township_id if row.instance else None
        if row.instance is not None and (township is None or old_township != township.pk):
            row.changes["township_code"] = (row.instance.township.code, values["township_code"])
            row.action = UPDATE
            plan.warn(
                position,
                "township_code",
                _(
                    "the cell moves from township “%(old)s” to “%(new)s”: its open cases move"
                    " with it."
                )
                % {"old": row.instance.township.code, "new": values["township_code"]},
            )
        plan.rows.append(row)
    return plan


def _township_names(names_of: dict, plan: ImportPlan) -> dict[str, tuple[int, str]]:
    """Each township code's (first feature, name). A code given several names is an error
    on the features that differ from the name most of its features give (on a tie, the
    first seen): one typo in feature 5 is feature 5's error, not the 150 right ones'."""
    townships = {}
    for code, names in names_of.items():
        # Counter.most_common keeps first-seen order among equal counts.
        (name, _count), *others = Counter({n: len(p) for n, p in names.items()}).most_common()
        first = names[name][0]
        townships[code] = (first, name)
        for other, _count in others:
            for position in names[other]:
                plan.error(
                    position,
                    "township_name",
                    _("township “%(code)s” is called “%(name)s” in feature %(first)d.")
                    % {"code": code, "name": name, "first": first},
                )
    # In feature order, as the features' other errors (all found in one pass before these).
    plan.errors.sort(key=lambda error: error.line or 0)
    return townships


def _note_codes_of_both_kinds(parsed: list, townships: dict, plan: ImportPlan) -> None:
    """An error on each cell whose code is also a township's, in the file or stored: a scope
    in the responsibility list names either, and could not tell them apart. Two queries."""
    cell_codes = {values["code"]: position for position, values in parsed}
    taken_by_townships = set(townships) | set(
        Township.objects.filter(code__in=list(cell_codes)).values_list("code", flat=True)
    )
    taken_by_cells = set(
        GridCell.objects.filter(code__in=list(townships))
        .exclude(code__in=list(cell_codes))
        .values_list("code", flat=True)
    )
    message = _("“%(code)s” is both a township and a grid cell code: rename one.")
    for code in sorted(set(cell_codes) & taken_by_townships, key=cell_codes.get):
        plan.error(cell_codes[code], "code", message % {"code": code})
    for code in sorted(taken_by_cells, key=lambda code: townships[code][0]):
        plan.error(townships[code][0], "township_code", message % {"code": code})


# Cells of one grid tile their townships; shared edges are no overlap, and neither are the
# slivers where two surveys' edges do not quite meet (up to this share of the smaller cell).
OVERLAP_TOLERANCE = 0.01


def _note_overlaps(parsed: list, plan: ImportPlan) -> None:
    """A warning on each cell that overlaps another cell of the file, or a stored one the
    file leaves as it is: a point in both is placed in the cell with the lower code, which
    may not be the one meant. One query (the stored cells near the file's)."""
    cells = [(position, values["code"], shape(values["boundary"])) for position, values in parsed]
    if not cells:
        return
    min_lng, min_lat, max_lng, max_lat = shapely.total_bounds([c[2] for c in cells]).tolist()
    near = {
        "min_lng__lte": max_lng,
        "max_lng__gte": min_lng,
        "min_lat__lte": max_lat,
        "max_lat__gte": min_lat,
    }
    stored = (
        GridCell.objects.filter(**near)
        .exclude(code__in=[code for _p, code, _s in cells])
        .order_by("code")
        .values_list("code", "boundary")
    )
    cells += [(None, code, shape(boundary)) for code, boundary in stored]
    tree = shapely.STRtree([polygon for _p, _c, polygon in cells])
    for index, (position, _code, polygon) in enumerate(cells):
        if position is None:
            continue
        for other_index in sorted(tree.query(polygon, predicate="intersects").tolist()):
            other_position, other_code, other = cells[other_index]
            # Each pair once, on the later feature of the file.
            if other_index == index or (other_position is not None and other_index > index):
                continue
            smaller = min(polygon.area, other.area)
            share = polygon.intersection(other).area / smaller if smaller else 0
            if share <= OVERLAP_TOLERANCE:
                continue
            where = (
                _("cell “%(code)s” (feature %(position)d)")
                if other_position is not None
                else _("the stored cell “%(code)s” (not in this file)")
            ) % {"code": other_code, "position": other_position or 0}
            plan.warn(
                position,
                "geometry",
                _(
                    "overlaps %(other)s by %(share)d%% of the smaller cell; a point there"
                    " is placed in the cell with the lower code."
                )
                % {"other": where, "share": round(share * 100)},
            )


def _write(plan: ImportPlan) -> list:
    write_rows(Township, plan.side_rows)
    township_ids = dict(
        Township.objects.filter(
            code__in=[row.values["township_code"] for row in plan.rows]
        ).values_list("code", "id")
    )
    for row in plan.rows:
        row.values = {**row.values, "township_id": township_ids[row.values["township_code"]]}
        if "township_code" in row.changes:
            row.changes["township_id"] = row.changes["township_code"]
    created = write_rows(GridCell, plan.rows, skip=("township_code",))
    # Bulk writes send no signals: tell the router's cache and the cases ourselves.
    RoutingStamp.bump()
    moves = {
        row.instance.pk: row.values["township_id"]
        for row in plan.rows
        if row.instance is not None and "township_code" in row.changes
    }
    if moves:
        cells_moved.send(sender=GridCell, moves=moves)
    return created
