"""A grid file's features, read and checked one by one: a GeoJSON FeatureCollection in
WGS84 of Polygon or MultiPolygon features with properties `code`, `name`, `township_code`,
`township_name` and optionally `community`. Errors name the feature by its 1-based
position in the collection.
"""

from __future__ import annotations

import json
import re

from django.utils.translation import gettext as _

from departments.importers.checks import check_code, check_text
from departments.importers.geometry import check_geometry
from departments.importers.plans import ImportPlan
from departments.importers.reading import decode as decode_text

REQUIRED_PROPERTIES = ("code", "name", "township_code", "township_name")
OPTIONAL_PROPERTIES = ("community",)
PROPERTIES = (*REQUIRED_PROPERTIES, *OPTIONAL_PROPERTIES)


def read_features(data: bytes | str, plan: ImportPlan) -> list | None:
    """The file's features, each still to be checked; None (and an error) when the file is
    not a GeoJSON FeatureCollection in WGS84."""
    text = decode_text(data, plan)
    if text is None:
        return None
    if not text.strip():
        plan.error(
            None, "file", _("the file is empty: a grid file is a GeoJSON FeatureCollection.")
        )
        return None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        plan.error(None, "file", _not_json(text, error))
        return None
    except RecursionError:
        # Arrays in arrays thousands deep: no geometry is, and the decoder gives up.
        plan.error(None, "file", _("the JSON is nested too deeply to be a grid file."))
        return None
    except ValueError:
        # Not JSONDecodeError: a number longer than Python converts (4,300 digits).
        plan.error(
            None,
            "file",
            _("the file has a number thousands of digits long: coordinates are degrees."),
        )
        return None
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        plan.error(None, "type", _("the file must be a GeoJSON FeatureCollection."))
        return None
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
        return None
    features = document.get("features")
    if not isinstance(features, list):
        plan.error(None, "features", _("the FeatureCollection has no list of features."))
        return None
    return features


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


def check_feature(position: int, feature, plan: ImportPlan) -> dict | None:
    """The feature's properties as text, its `boundary` and its `bbox`; None, with the
    feature's errors on the plan, when any is wrong."""

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


def once_for_every_feature(plan: ImportPlan, count: int) -> None:
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
