"""The OpenAPI 3.1 document of the Open311 API, served at /open311/v2/openapi.json.

Built from the same constants as the views and kept true by tests/cases/test_open311_openapi.py
(every route documented, every documented path routed, real responses valid against
these schemas, and a schemathesis run).
"""

from cases.models import MAX_DESCRIPTION_LENGTH, Urgency
from cases.open311.params import EMAIL_MAX_LENGTH, MAX_LENGTHS, NAME_MAX_LENGTH
from cases.open311.schemas import EXAMPLES, SCHEMAS

FORMATS = ("json", "xml")
MEDIA = {"json": "application/json", "xml": "text/xml"}


JURISDICTION = {
    "name": "jurisdiction_id",
    "in": "query",
    "required": False,
    "schema": {"type": "string"},
    "description": "Accepted; only one jurisdiction is served here.",
}
EXTENSIONS = {
    "name": "extensions",
    "in": "query",
    "required": False,
    "schema": {"enum": ["true", "false"]},
    "description": "true adds extended_attributes to each request.",
}


def _path_param(name: str, description: str) -> dict:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": "^[^/]+$"},
        "description": description,
    }


def _content(schema: str, fmt: str) -> dict:
    media = {"schema": {"$ref": f"#/components/schemas/{schema}"}}
    if fmt == "json" and schema in EXAMPLES:
        media["example"] = EXAMPLES[schema]
    return {MEDIA[fmt]: media}


def _ok(schema: str, fmt: str, status: str = "200", description: str = "OK") -> dict:
    return {status: {"description": description, "content": _content(schema, fmt)}}


def _errors(fmt: str, *statuses: int) -> dict:
    words = {
        400: "Missing or bad parameter, or a general failure.",
        403: "api_key missing or not valid.",
        404: "Not found (service_code, service_request_id, token or jurisdiction_id).",
        405: "Method not allowed.",
        422: "The Idempotency-Key was used for another request.",
        429: "Too many requests for this api_key; see Retry-After.",
        503: "The database is out of reach for a moment; see Retry-After.",
    }
    content = _content("Errors", fmt)
    # Any endpoint may meet the database out of reach.
    statuses = (*statuses, 503)
    responses = {str(s): {"description": words[s], "content": content} for s in statuses}
    for waited in {429, 503} & set(statuses):
        responses[str(waited)]["headers"] = {
            "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}
        }
    return responses


def _get(summary: str, schema: str, fmt: str, params: list, *errors: int) -> dict:
    return {
        "summary": summary,
        "parameters": params,
        "responses": {**_ok(schema, fmt), **_errors(fmt, 400, 404, *errors)},
    }


NAME_NOTE = (
    f"Kept with the other name part as one name of at most {NAME_MAX_LENGTH} characters"
    " (a Chinese name unspaced, others with a space between); a longer one is refused."
)
POST_FIELDS = {
    "api_key": {"type": "string", "description": "Required; see create_api_key."},
    "jurisdiction_id": {"type": "string"},
    "service_code": {"type": "string"},
    "lat": {"type": "number", "minimum": -90, "maximum": 90},
    "long": {"type": "number", "minimum": -180, "maximum": 180},
    "address_string": {
        "type": "string",
        "maxLength": MAX_LENGTHS["address_string"],
        "description": "Names a grid cell, or a township (the case then waits in its pool).",
    },
    "address_id": {"type": "string", "description": "A grid cell code."},
    "email": {"type": "string", "format": "email", "maxLength": EMAIL_MAX_LENGTH},
    "device_id": {"type": "string", "maxLength": MAX_LENGTHS["device_id"]},
    "account_id": {"type": "string", "maxLength": MAX_LENGTHS["account_id"]},
    "first_name": {"type": "string", "maxLength": NAME_MAX_LENGTH, "description": NAME_NOTE},
    "last_name": {"type": "string", "maxLength": NAME_MAX_LENGTH, "description": NAME_NOTE},
    "phone": {"type": "string", "maxLength": MAX_LENGTHS["phone"]},
    "description": {"type": "string", "maxLength": MAX_DESCRIPTION_LENGTH},
    "media_url": {"type": "string", "format": "uri", "maxLength": MAX_LENGTHS["media_url"]},
    "attribute[urgency]": {"enum": list(Urgency.values)},
    "idempotency_key": {
        "type": "string",
        "maxLength": MAX_LENGTHS["Idempotency-Key"],
        "description": "Same as the Idempotency-Key header.",
    },
}


def _paths() -> dict:
    paths: dict = {}
    for fmt in FORMATS:
        paths[f"/discovery.{fmt}"] = {
            "get": {
                "summary": "Service discovery",
                "responses": {**_ok("Discovery", fmt), **_errors(fmt, 400, 404)},
            }
        }
        paths[f"/services.{fmt}"] = {
            "get": _get("GET Service List: the categories", "Services", fmt, [JURISDICTION])
        }
        paths[f"/services/{{service_code}}.{fmt}"] = {
            "get": _get(
                "GET Service Definition",
                "ServiceDefinition",
                fmt,
                [_path_param("service_code", "A service code (category code)."), JURISDICTION],
            )
        }
        query = [
            {
                "name": "service_request_id",
                "in": "query",
                "schema": {"type": "string"},
                "description": "Comma-separated case numbers; overrides all other filters.",
            },
            {
                "name": "service_code",
                "in": "query",
                "schema": {"type": "string"},
                "description": "Comma-separated service codes.",
            },
            {
                "name": "start_date",
                "in": "query",
                "schema": {"type": "string", "format": "date-time"},
                "description": "requested_datetime from (at most 90 days before end_date).",
            },
            {
                "name": "end_date",
                "in": "query",
                "schema": {"type": "string", "format": "date-time"},
                "description": "requested_datetime until; default: the last 90 days.",
            },
            {
                "name": "status",
                "in": "query",
                "schema": {"type": "string", "pattern": "^(open|closed)(,(open|closed))*$"},
                "description": "open, closed, or both comma-separated.",
            },
            EXTENSIONS,
            JURISDICTION,
        ]
        paths[f"/requests.{fmt}"] = {
            "get": {
                **_get(
                    "GET Service Requests (at most 1000, newest first)",
                    "ServiceRequests",
                    fmt,
                    query,
                ),
            },
            "post": {
                "summary": "POST Service Request: creates and routes a case",
                "parameters": [
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "schema": {
                            "type": "string",
                            "maxLength": MAX_LENGTHS["Idempotency-Key"],
                        },
                        "description": "A retried post with the same key (and api_key)"
                        " answers the first case again instead of creating another.",
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/x-www-form-urlencoded": {
                            "schema": {
                                "type": "object",
                                "required": ["api_key", "service_code"],
                                "properties": POST_FIELDS,
                                "description": "One location is required: lat and long,"
                                " address_string or address_id.",
                            }
                        },
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "required": ["api_key", "service_code"],
                                "properties": {
                                    **POST_FIELDS,
                                    "media": {
                                        "type": "array",
                                        "maxItems": 5,
                                        "items": {"type": "string", "format": "binary"},
                                        "description": "Photos (JPEG, PNG or WebP, at most"
                                        " 10 MB each, 5 a case); EXIF is removed.",
                                    },
                                },
                            }
                        },
                    },
                },
                "responses": {
                    **_ok("PostedRequests", fmt, "200", "The case number."),
                    **_errors(fmt, 400, 403, 404, 422, 429),
                },
            },
        }
        paths[f"/requests/{{service_request_id}}.{fmt}"] = {
            "get": _get(
                "GET Service Request",
                "ServiceRequests",
                fmt,
                [_path_param("service_request_id", "A case number."), EXTENSIONS, JURISDICTION],
            )
        }
        paths[f"/tokens/{{token}}.{fmt}"] = {
            "get": _get(
                "GET service_request_id from a token",
                "TokenRequests",
                fmt,
                [_path_param("token", "The token of a posted request."), JURISDICTION],
            )
        }
    paths["/openapi.json"] = {
        "get": {
            "summary": "This document",
            "responses": {
                "200": {
                    "description": "OK",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
        }
    }
    return paths


def openapi_document(*, server_url: str) -> dict:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Grid governance — Open311 GeoReport v2",
            "version": "2",
            "description": "GeoReport v2 (http://wiki.open311.org/GeoReport_v2) over the"
            " case dispatch engine: services are categories, service requests are cases.",
        },
        "servers": [{"url": server_url}],
        "paths": _paths(),
        "components": {"schemas": SCHEMAS},
    }
