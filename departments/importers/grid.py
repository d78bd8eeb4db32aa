"""The grid: a GeoJSON FeatureCollection in WGS84 of Polygon or MultiPolygon features with
properties `code`, `name`, `township_code`, `township_name` and optionally `community`.

Townships are created or renamed from the features. Errors name the feature by its
1-based position in the collection.
"""

from __future__ import annotations

import json
import re
from collections import Counter

import shapely
from django.utils.translation import gettext as _
from shapely.geometry import shape

from departments.importers.checks import check_code, check_text, note_case_clashes, note_duplicate
from departments.importers.geometry import check_geometry
from departments.importers.plans import UPDATE, ImportPlan, plan_row, write_rows
from departments.importers.reading import decode as decode_text
from departments.models import GridCell, RoutingStamp, Township
from departments.signals import cells_moved

REQUIRED_PROPERTIES = ("code", "name", "township_code", "township_name")
OPTIONAL_PROPERTIES = ("community",)
PROPERTIES = (*REQUIRED_PROPERTIES, *OPTIONAL_PROPERTIES)


def plan_grid(data: bytes | str, *, progress=None) -> ImportPlan:
    """Check a grid GeoJSON file against the database; cells keyed by `code`, townships by
    `township_code`. Geometries must be valid, non-empty polygons in WGS84 bounds."""
    plan = ImportPlan(subject="grid cells", unit="feature", writer=_write, progress=progress)
    text = decode_text(data, plan)
    if text is None:
        return plan
    if not text.strip():
        plan.error(
            None, "file", _("the file is empty: a grid file is a GeoJSON FeatureCollection.")
        )
        return plan
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        plan.error(None, "file", _not_json(text, error))
        return plan
    except RecursionError:
        # Arrays in arrays thousands deep: no geometry is, and the decoder gives up.
        plan.error(None, "file", _("the JSON is nested too deeply to be a grid file."))
        return plan
    except ValueError:
        # Not JSONDecodeError: a number longer than Python converts (4,300 digits).
        plan.error(
            None,
            "file",
            _("the file has a number thousands of digits long: coordinates are degrees."),
        )
        return plan
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        plan.error(None, "type", _("the file must be a GeoJSON FeatureCollection."))
        return plan
    if not _is_wgs84(document.get("crs")):
        plan.error(
            None,
            "crs",
            _(
                "the file declares the coordinate system %(crs)s: a grid file is in WGS84"
                " longitude/latitude (RFC 7946); reproject it, e.g. with"
                " ogr2ogr -t_srs EPSG:4326."
            )
            % {"crs": json.dumps(document["crs"], ensure_ascii=False)},
        )
        return plan
    features = document.get("features")
    if not isinstance(features, list):
        plan.error(None, "features", _("the FeatureCollection has no list of features."))
        return plan

    parsed = []
    # Every township code's names, each with the features that give it, in file order.
    names_of: dict[str, dict[str, list[int]]] = {}
    seen: dict[str, int] = {}
    for position, feature in enumerate(features, start=1):
        plan.tick(position)
        errors_before = len(plan.errors)
        values = _check_feature(position, feature, plan)
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
    _once_for_every_feature(plan, len(features))
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


def _once_for_every_feature(plan: ImportPlan, count: int) -> None:
    """One error for the file instead of one per feature when every feature has the same
    missing or unexpected properties: a GIS tool's export gives each the same OBJECTID
    or Shape_Area, and 3,000 identical lines would hide what to fix."""
    if count < 2:
        return
    features_of: dict[str, set[int]] = {}
    for error in plan.errors:
        if error.field == "properties":
            features_of.setdefault(error.message, set()).add(error.line)
    common = [message for message, lines in features_of.items() if len(lines) == count]
    if not common:
        return
    plan.errors[:] = [
        error
        for error in plan.errors
        if not (error.field == "properties" and error.message in common)
    ]
    for message in common:
        plan.error(None, "properties", _("in every feature: %(message)s") % {"message": message})


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


def _not_json(text: str, error: json.JSONDecodeError) -> str:
    """What is wrong with a file that is not JSON, in our words (the decoder's are English):
    a CSV file given as the grid, a file cut short, or where the JSON stops."""
    first_line = text.lstrip().partition("\n")[0]
    if "," in first_line and "{" not in first_line:
        # As the CSV importers name a JSON file given to them.
        return _(
            "this looks like a CSV file, not GeoJSON: a grid file is a GeoJSON "
            "FeatureCollection; the CSV files have imports of their own."
        )
    if error.pos >= len(text.rstrip()):
        return _("not valid JSON: the file ends too early (is it cut short?).")
    near = " ".join(text[error.pos : error.pos + 20].split())
    return _("not valid JSON at line %(line)d, column %(column)d (at “%(near)s”).") % {
        "line": error.lineno,
        "column": error.colno,
        "near": near,
    }


# The `crs` names a grid file may carry: WGS84 longitude/latitude (OGC's CRS84, EPSG:4326,
# with or without a version in the URN: "urn:ogc:def:crs:EPSG:6.6:4326"), and China's
# CGCS2000 (EPSG:4490), in which Chinese GIS offices deliver their data: its coordinates
# agree with WGS84's to within centimetres, far below the size of a grid cell.
WGS84_CRS_NAME = re.compile(r"(?:CRS84|EPSG:(?:[\d.]*:)?(?:4326|4490))$")


def _is_wgs84(crs) -> bool:
    """No `crs` member (RFC 7946 dropped it: WGS84 is implied), or one naming WGS84."""
    if crs is None:
        return True
    name = (crs.get("properties") or {}).get("name") if isinstance(crs, dict) else None
    return isinstance(name, str) and bool(WGS84_CRS_NAME.search(name.upper().replace("::", ":")))


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


def _check_feature(position: int, feature, plan: ImportPlan) -> dict | None:
    def error(field_name, message):
        plan.error(position, field_name, message)

    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        error("type", _("is not a GeoJSON Feature."))
        return None
    properties = feature.get("properties")
    if not isinstance(properties, dict):
        error("properties", _("the feature has no properties."))
        return None
    # A shapefile's fields are often in capitals ("CODE"): names count in any letter case,
    # as a CSV file's header does, unless two would then be one. Messages say them as written.
    written = {name.strip().lower(): name for name in properties}
    if len(written) == len(properties):
        properties = {name: properties[as_written] for name, as_written in written.items()}
    else:
        written = {name: name for name in properties}
    missing = [name for name in REQUIRED_PROPERTIES if name not in properties]
    if missing:
        error("properties", _("missing properties: %(names)s") % {"names": ", ".join(missing)})
    # As extra columns in the CSV files: a misspelt "comunity" would be dropped unnoticed.
    extra = [written[name] for name in properties if name not in PROPERTIES]
    if extra:
        error(
            "properties",
            _("unexpected properties: %(names)s (the properties are %(expected)s)")
            % {
                "names": ", ".join(extra),
                "expected": ", ".join(PROPERTIES),
            },
        )
    if missing or extra:
        # The geometry's errors too, so that one run says all that is wrong with the feature.
        check_geometry(feature.get("geometry"), error)
        return None
    errors_before = len(plan.errors)
    text = {name: _property_text(name, properties.get(name), error) for name in PROPERTIES}
    for name, value in text.items():
        if not _storable(value):
            error(name, _("contains a NUL character or a broken Unicode escape: remove it."))
    if len(plan.errors) > errors_before:
        return None
    check_code(text["code"], plan, position, "code")
    check_text(text["name"], plan, position, "name", 100)
    check_code(text["township_code"], plan, position, "township_code")
    check_text(text["township_name"], plan, position, "township_name", 100)
    check_text(text["community"], plan, position, "community", 100, required=False)
    boundary, bbox = check_geometry(feature.get("geometry"), error)
    if len(plan.errors) > errors_before or boundary is None:
        return None
    return {**text, "boundary": boundary, "bbox": bbox}


def _property_text(name: str, value, error) -> str:
    """A property's text, stripped; null is empty. A whole number is its digits: a
    shapefile's integer field (101) comes out of ogr2ogr or QGIS as a JSON number, and
    "101" is its only reading. Anything else (a list, an object, true, 101.0) is an error:
    stored as Python's text, ["a"] became the name "['a']"."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, bool):
        kind = "true" if value else "false"
    elif isinstance(value, float):
        kind = repr(value)
    elif isinstance(value, list):
        kind = _("a list")
    else:
        kind = _("an object")
    error(name, _("must be text, not %(kind)s.") % {"kind": kind})
    return ""


def _storable(value: str) -> bool:
    """False for what JSON escapes may give and no database column stores: a NUL
    (\\u0000) or half of a surrogate pair (a lone \\ud800)."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


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
