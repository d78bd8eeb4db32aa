"""A grid cell's geometry, as the grid import and the admin's cell form check it: a valid,
non-empty Polygon or MultiPolygon of closed rings, in WGS84 longitude/latitude (a file
written latitude first is named as swapped when its box, swapped, lies in China).

Every message is our own and translatable: shapely's reasons and Python's exceptions are
English, and would reach the Chinese admin as they are.
"""

from __future__ import annotations

import math
import re
import reprlib

import shapely
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from shapely.geometry import shape
from shapely.validation import explain_validity

GEOMETRY_TYPES = ("Polygon", "MultiPolygon")

# GEOS's reasons for an invalid geometry (explain_validity), in the user's words.
INVALIDITY_REASONS = {
    "Self-intersection": gettext_lazy("its edges cross each other"),
    "Ring Self-intersection": gettext_lazy("a ring touches or crosses itself"),
    "Too few points in geometry component": gettext_lazy(
        "a ring has fewer than 3 distinct corners"
    ),
    "Hole lies outside shell": gettext_lazy("a hole lies outside the polygon's outer ring"),
    "Nested holes": gettext_lazy("a hole lies inside another hole"),
    "Interior is disconnected": gettext_lazy("its holes cut the polygon into pieces"),
    "Duplicate Rings": gettext_lazy("a ring appears twice"),
    "Nested shells": gettext_lazy("one polygon of the MultiPolygon lies inside another"),
    "Invalid Coordinate": gettext_lazy("a coordinate is not a finite number"),
    "Ring is not closed": gettext_lazy("a ring is not closed"),
    "Repeated Point": gettext_lazy("a position is repeated"),
}
# "Self-intersection[121.0005 31.0005]": the reason, then where.
VALIDITY_PATTERN = re.compile(r"^(?P<reason>[^\[]+?)\s*\[(?P<lng>\S+) (?P<lat>\S+)\]$")

# How a value the file gives where a position belongs is shown: briefly, however deep.
_brief = reprlib.Repr()  # keyword arguments only from Python 3.12
_brief.maxlevel, _brief.maxlist, _brief.maxstring, _brief.maxother = 2, 3, 30, 30


def _sample(value) -> str:
    """`value` as the file spells it (null, true), cut short: a few items, two levels."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return _brief.repr(value)


def undecodable_json(exc: RecursionError | ValueError) -> str:
    """Why the text of a geometry cannot be read, when Python's decoder raises something
    other than JSONDecodeError: arrays nested thousands deep, or a number with more digits
    than Python converts (4,300)."""
    if isinstance(exc, RecursionError):
        return _("is nested far too deeply to be a Polygon or MultiPolygon.")
    return _("has a number thousands of digits long: coordinates are degrees.")


def check_geometry(geometry, error) -> tuple[dict | None, dict | None]:
    """The boundary as stored ([lng, lat] floats) and its bounding box, or (None, None)
    after calling `error("geometry", message)` with what is wrong."""
    if not isinstance(geometry, dict) or geometry.get("type") not in GEOMETRY_TYPES:
        error(
            "geometry",
            _("must be a Polygon or MultiPolygon, not %(kind)s.") % {"kind": _kind(geometry)},
        )
        return None, None
    try:
        coordinates = _normalise(geometry.get("coordinates"), geometry["type"])
        boundary = {"type": geometry["type"], "coordinates": coordinates}
        polygon = shape(boundary)
    except (TypeError, ValueError, IndexError, AttributeError, shapely.errors.ShapelyError) as exc:
        error(
            "geometry",
            _("the coordinates do not form a %(kind)s: %(error)s")
            % {"kind": geometry["type"], "error": exc},
        )
        return None, None
    if polygon.is_empty:
        error("geometry", _("is empty."))
        return None, None
    polygons = coordinates if geometry["type"] == "MultiPolygon" else [coordinates]
    if any(ring[0] != ring[-1] for rings in polygons for ring in rings):
        # shapely would close it silently; the file would then export differently.
        error(
            "geometry",
            _("a ring is not closed: its last position must repeat its first (RFC 7946)."),
        )
        return None, None
    min_lng, min_lat, max_lng, max_lat = polygon.bounds
    if message := _misplaced(min_lng, min_lat, max_lng, max_lat):
        error("geometry", message)
        return None, None
    if not polygon.is_valid:
        error("geometry", _invalidity(explain_validity(polygon)))
        return None, None
    return boundary, {
        "min_lng": min_lng,
        "min_lat": min_lat,
        "max_lng": max_lng,
        "max_lat": max_lat,
    }


def _kind(geometry) -> str:
    """What was given instead of a Polygon or MultiPolygon, in words."""
    if geometry is None:
        return _("null (no geometry)")
    if isinstance(geometry, dict):
        kind = geometry.get("type")
        if kind is None:
            return _("an object without a “type”")
        return kind if isinstance(kind, str) else _sample(kind)
    return _sample(geometry)


def _invalidity(explanation: str) -> str:
    """shapely's "Self-intersection[121.0005 31.0005]" as a sentence in the user's language;
    a reason we do not know stays as shapely gives it."""
    match = VALIDITY_PATTERN.match(explanation)
    reason = match["reason"] if match else explanation
    words = INVALIDITY_REASONS.get(reason, reason)
    if match is None:
        return _("is not a valid polygon: %(reason)s.") % {"reason": words}
    return _("is not a valid polygon: %(reason)s, at longitude %(lng)s, latitude %(lat)s.") % {
        "reason": words,
        "lng": match["lng"],
        "lat": match["lat"],
    }


# China's extent, generously (longitude 73.5–135.1° E, latitude 3.8–53.6° N). A cell
# outside it is not refused: SPEC §5 asks for WGS84, no more, and a test district may lie
# anywhere. Only a box that fits China with its axes swapped is named as swapped.
CHINA = (73.0, 3.0, 136.0, 54.0)


def _misplaced(min_lng, min_lat, max_lng, max_lat) -> str | None:
    """What is wrong with where a cell's box lies, or None: outside WGS84 (a projected
    file), or, within it, a box that would lie in China with latitude and longitude swapped
    (a file written [lat, lng]: an Ürümqi cell landed near the North Pole)."""
    west, south, east, north = CHINA
    swapped_fits = west <= min_lat and max_lat <= east and south <= min_lng and max_lng <= north
    if swapped_fits:
        # Swapped, in China; as given, never in it (the two ranges do not overlap).
        return _("latitude and longitude look swapped (GeoJSON writes longitude first).")
    if not (-180 <= min_lng <= max_lng <= 180 and -90 <= min_lat <= max_lat <= 90):
        return _(
            "coordinates are outside WGS84 longitude/latitude bounds: is this a projected file?"
        )
    return None


def _normalise(coordinates, kind: str) -> list:
    """A Polygon's rings (a MultiPolygon's polygons of rings) of [lng, lat] floats, the way
    JSONField gives them back: so that an unchanged file compares equal to what is stored.
    Raises ValueError, in the user's words, where the nesting or a position is wrong."""
    if kind == "MultiPolygon":
        return [_polygon(polygon) for polygon in _items(coordinates)]
    return _polygon(coordinates)


def _items(value) -> list:
    if not isinstance(value, list) or not value:
        raise ValueError(
            _("expected a non-empty list of coordinates, not %(value)s") % {"value": _sample(value)}
        )
    return value


def _polygon(value) -> list:
    return [_ring(ring) for ring in _items(value)]


def _ring(value) -> list:
    positions = [_position(position) for position in _items(value)]
    # An unclosed ring is named as unclosed after shapely has read it (check_geometry).
    needed = 4 if positions[0] == positions[-1] else 3
    if len(positions) < needed:
        raise ValueError(
            _("a ring needs at least 4 positions (3 corners, then the first again), not %(count)d")
            % {"count": len(positions)}
        )
    return positions


def _position(value) -> list[float]:
    if isinstance(value, str) or (
        isinstance(value, list) and any(isinstance(c, str) for c in value)
    ):
        text = value if isinstance(value, str) else next(c for c in value if isinstance(c, str))
        raise ValueError(_("coordinates are numbers, not text such as “%(text)s”") % {"text": text})
    if isinstance(value, list) and value and all(isinstance(c, list) for c in value):
        raise ValueError(
            _(
                "a list of positions where a position [longitude, latitude] belongs: "
                "one level of brackets too many"
            )
        )
    if not isinstance(value, list) or not all(
        isinstance(c, int | float) and not isinstance(c, bool) for c in value
    ):
        raise ValueError(
            _("a position is [longitude, latitude] in numbers, not %(value)s")
            % {"value": _sample(value)}
        )
    if len(value) < 2 or not all(_finite(c) for c in value):
        raise ValueError(_("a position needs finite longitude and latitude"))
    return [float(c) for c in value[:2]]


def _finite(number: int | float) -> bool:
    try:
        return math.isfinite(number)
    except OverflowError:  # an integer beyond any float: 1 followed by 400 zeros
        return False
