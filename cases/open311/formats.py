"""JSON and XML renderings of GeoReport v2 documents.

One Python structure (dicts, lists, scalars) renders both ways. XML follows the
specification's element names; JSON is its "Spark convention" mapping: a list root
(`services`, `service_requests`, `errors`) becomes a top-level array, an object root
(`service_definition`, `discovery`) an object.
"""

import json
import xml.etree.ElementTree as ET

from django.http import HttpResponse

from cases.spreadsheets import xml_text

JSON_CONTENT_TYPE = "application/json; charset=utf-8"
XML_CONTENT_TYPE = "text/xml; charset=utf-8"
XML_DECLARATION = '<?xml version="1.0" encoding="utf-8"?>\n'
FORMATS = {"json": JSON_CONTENT_TYPE, "xml": XML_CONTENT_TYPE}

# The element name of one item of each list, as the specification names them.
ITEM_TAGS = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
    "assisting_department_codes": "department_code",
    "candidate_department_codes": "department_code",
}


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return xml_text(str(value))


def _fill(element: ET.Element, value) -> None:
    if isinstance(value, dict):
        for name, child in value.items():
            _fill(ET.SubElement(element, name), child)
    elif isinstance(value, list | tuple):
        item_tag = ITEM_TAGS[element.tag]
        for item in value:
            _fill(ET.SubElement(element, item_tag), item)
    else:
        element.text = _text(value)


def to_xml(root: str, data) -> str:
    element = ET.Element(root)
    _fill(element, data)
    # ElementTree leaves a carriage return in text raw, and every XML parser reads a raw one
    # as a line feed: a description's "\r\n" would come back "\n" (JSON keeps it). Only
    # text can hold one here (no attributes are written).
    return XML_DECLARATION + ET.tostring(element, encoding="unicode").replace("\r", "&#13;")


def render(data, *, root: str, fmt: str, status: int = 200) -> HttpResponse:
    """`data` rendered as `fmt` (json or xml) with the specification's content type."""
    body = to_xml(root, data) if fmt == "xml" else json.dumps(data, ensure_ascii=False)
    return HttpResponse(body.encode(), status=status, content_type=FORMATS[fmt])


def render_errors(errors: list[tuple[int, str]], *, fmt: str, status: int) -> HttpResponse:
    """The specification's error document: a list of {code, description}."""
    return render(
        [{"code": code, "description": str(description)} for code, description in errors],
        root="errors",
        fmt=fmt,
        status=status,
    )
