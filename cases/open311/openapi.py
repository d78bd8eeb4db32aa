"""The OpenAPI 3.1 document of the Open311 API, served at /open311/v2/openapi.json.

Built from the same constants as the views and kept true by tests/cases/test_open311_openapi.py
(every route documented, every documented path routed, real responses valid against
these schemas, and a schemathesis run).
"""

from cases.models import CaseFallbackReason, State, Urgency

FORMATS = ("json", "xml")
MEDIA = {"json": "application/json", "xml": "text/xml"}


def _nullable(type_: str, **extra) -> dict:
    return {"type": [type_, "null"], **extra}


SCHEMAS = {
    "Error": {
        "type": "object",
        "required": ["code", "description"],
        "properties": {
            "code": {"type": "integer", "description": "The HTTP status, or a finer code."},
            "description": {"type": "string"},
        },
        "xml": {"name": "error"},
    },
    "Errors": {
        "type": "array",
        "items": {"$ref": "#/components/schemas/Error"},
        "xml": {"name": "errors", "wrapped": True},
    },
    "Discovery": {
        "type": "object",
        "required": ["changeset", "contact", "key_service", "endpoints"],
        "properties": {
            "changeset": {"type": "string"},
            "contact": {"type": "string"},
            "key_service": {"type": "string"},
            "endpoints": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["specification", "url", "changeset", "type", "formats"],
                    "properties": {
                        "specification": {"const": "http://wiki.open311.org/GeoReport_v2"},
                        "url": {"type": "string", "format": "uri"},
                        "changeset": {"type": "string"},
                        "type": {"enum": ["production", "test"]},
                        "formats": {"type": "array", "items": {"type": "string"}},
                    },
                },
            },
        },
        "xml": {"name": "discovery"},
    },
    "Service": {
        "type": "object",
        "required": [
            "service_code",
            "service_name",
            "description",
            "metadata",
            "type",
            "keywords",
            "group",
        ],
        "properties": {
            "service_code": {"type": "string", "description": "A category code."},
            "service_name": {"type": "string"},
            "description": {"type": "string"},
            "metadata": {"type": "boolean"},
            "type": {"enum": ["realtime", "batch", "blackbox"]},
            "keywords": {"type": "string", "description": "Comma-separated."},
            "group": _nullable("string", description="The parent category's name."),
        },
        "xml": {"name": "service"},
    },
    "Services": {
        "type": "array",
        "items": {"$ref": "#/components/schemas/Service"},
        "xml": {"name": "services", "wrapped": True},
    },
    "ServiceDefinition": {
        "type": "object",
        "required": ["service_code", "attributes"],
        "properties": {
            "service_code": {"type": "string"},
            "attributes": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": [
                        "variable",
                        "code",
                        "datatype",
                        "required",
                        "datatype_description",
                        "order",
                        "description",
                    ],
                    "properties": {
                        "variable": {"type": "boolean"},
                        "code": {"type": "string"},
                        "datatype": {
                            "enum": [
                                "string",
                                "number",
                                "datetime",
                                "text",
                                "singlevaluelist",
                                "multivaluelist",
                            ]
                        },
                        "required": {"type": "boolean"},
                        "datatype_description": _nullable("string"),
                        "order": {"type": "integer", "minimum": 1},
                        "description": {"type": "string"},
                        "values": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["key", "name"],
                                "properties": {
                                    "key": {"type": "string"},
                                    "name": {"type": "string"},
                                },
                            },
                        },
                    },
                },
            },
        },
        "xml": {"name": "service_definition"},
    },
    "ExtendedAttributes": {
        "type": "object",
        "description": "Returned with extensions=true (SPEC §7).",
        "required": [
            "state",
            "department_code",
            "assisting_department_codes",
            "fallback_reason",
            "candidate_department_codes",
            "grid_cell",
            "escalation_level",
        ],
        "properties": {
            "state": {"enum": list(State.values)},
            "department_code": _nullable("string", description="The lead department."),
            "assisting_department_codes": {"type": "array", "items": {"type": "string"}},
            "fallback_reason": {"enum": [*CaseFallbackReason.values, None]},
            "candidate_department_codes": {"type": "array", "items": {"type": "string"}},
            "grid_cell": _nullable("string"),
            "escalation_level": {"type": "integer", "minimum": 0, "maximum": 3},
        },
    },
    "ServiceRequest": {
        "type": "object",
        "required": [
            "service_request_id",
            "status",
            "status_notes",
            "service_name",
            "service_code",
            "description",
            "agency_responsible",
            "service_notice",
            "requested_datetime",
            "updated_datetime",
            "expected_datetime",
            "address",
            "address_id",
            "zipcode",
            "lat",
            "long",
            "media_url",
        ],
        "properties": {
            "service_request_id": {"type": "string", "description": "The case number."},
            "status": {"enum": ["open", "closed"]},
            "status_notes": {"type": "string", "description": "The case's state in words."},
            "service_name": _nullable("string"),
            "service_code": _nullable("string"),
            "description": {"type": "string"},
            "agency_responsible": _nullable("string", description="The lead department."),
            "service_notice": _nullable("string"),
            "requested_datetime": {"type": "string", "format": "date-time"},
            "updated_datetime": {"type": "string", "format": "date-time"},
            "expected_datetime": _nullable(
                "string", format="date-time", description="The current deadline."
            ),
            "address": _nullable("string"),
            "address_id": _nullable("string", description="The grid cell code."),
            "zipcode": _nullable("string"),
            "lat": _nullable("number"),
            "long": _nullable("number"),
            "media_url": _nullable("string"),
            "extended_attributes": {"$ref": "#/components/schemas/ExtendedAttributes"},
        },
        "xml": {"name": "request"},
    },
    "ServiceRequests": {
        "type": "array",
        "items": {"$ref": "#/components/schemas/ServiceRequest"},
        "xml": {"name": "service_requests", "wrapped": True},
    },
    "PostedRequests": {
        "type": "array",
        "minItems": 1,
        "maxItems": 1,
        "items": {
            "type": "object",
            "required": ["service_request_id", "service_notice", "account_id"],
            "properties": {
                "service_request_id": {"type": "string"},
                "service_notice": _nullable("string"),
                "account_id": _nullable("string"),
            },
            "xml": {"name": "request"},
        },
        "xml": {"name": "service_requests", "wrapped": True},
    },
    "TokenRequests": {
        "type": "array",
        "items": {
            "type": "object",
            "required": ["service_request_id", "token"],
            "properties": {
                "service_request_id": {"type": "string"},
                "token": {"type": "string"},
            },
            "xml": {"name": "request"},
        },
        "xml": {"name": "service_requests", "wrapped": True},
    },
}

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


_REQUEST_EXAMPLE = {
    "service_request_id": "2026-000042",
    "status": "open",
    "status_notes": "assigned",
    "service_name": "暴露垃圾",
    "service_code": "ENV-RUBBISH",
    "description": "路边堆放垃圾三天无人清理",
    "agency_responsible": "城管局",
    "service_notice": None,
    "requested_datetime": "2026-03-10T10:00:00+08:00",
    "updated_datetime": "2026-03-10T10:00:00+08:00",
    "expected_datetime": "2026-03-10T12:00:00+08:00",
    "address": "北街道 1 号",
    "address_id": "N-01",
    "zipcode": None,
    "lat": 30.005,
    "long": 120.005,
    "media_url": None,
    "extended_attributes": {
        "state": "assigned",
        "department_code": "CG",
        "assisting_department_codes": [],
        "fallback_reason": None,
        "candidate_department_codes": [],
        "grid_cell": "N-01",
        "escalation_level": 0,
    },
}

# Example JSON documents, one per schema; tests/cases/test_open311_openapi.py checks that
# each validates against its schema.
EXAMPLES = {
    "Discovery": {
        "changeset": "2026-11-23T00:00:00Z",
        "contact": "grid-governance@example.org",
        "key_service": "Ask the district administrators for a key.",
        "endpoints": [
            {
                "specification": "http://wiki.open311.org/GeoReport_v2",
                "url": "https://example.org/open311/v2/",
                "changeset": "2026-11-23T00:00:00Z",
                "type": "production",
                "formats": ["text/xml", "application/json"],
            }
        ],
    },
    "Services": [
        {
            "service_code": "ENV-RUBBISH",
            "service_name": "暴露垃圾",
            "description": "Exposed rubbish",
            "metadata": True,
            "type": "realtime",
            "keywords": "ENV-RUBBISH, Exposed rubbish, ENV",
            "group": "环境卫生",
        }
    ],
    "ServiceDefinition": {
        "service_code": "ENV-RUBBISH",
        "attributes": [
            {
                "variable": True,
                "code": "urgency",
                "datatype": "singlevaluelist",
                "required": False,
                "datatype_description": None,
                "order": 1,
                "description": "How urgent is it? Leave empty for normal.",
                "values": [{"key": key, "name": key} for key in Urgency.values],
            }
        ],
    },
    "ServiceRequests": [_REQUEST_EXAMPLE],
    "PostedRequests": [
        {
            "service_request_id": "2026-000042",
            "service_notice": "Assigned to 城管局.",
            "account_id": None,
        }
    ],
    "TokenRequests": [
        {"service_request_id": "2026-000042", "token": "6f1c2a52-5a8e-4b8e-9a57-2c7f1f1d2a00"}
    ],
    "Errors": [{"code": 404, "description": "service_code NOPE was not found."}],
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


POST_FIELDS = {
    "api_key": {"type": "string", "description": "Required; see create_api_key."},
    "jurisdiction_id": {"type": "string"},
    "service_code": {"type": "string"},
    "lat": {"type": "number", "minimum": -90, "maximum": 90},
    "long": {"type": "number", "minimum": -180, "maximum": 180},
    "address_string": {
        "type": "string",
        "description": "Names a grid cell, or a township (the case then waits in its pool).",
    },
    "address_id": {"type": "string", "description": "A grid cell code."},
    "email": {"type": "string", "format": "email"},
    "device_id": {"type": "string"},
    "account_id": {"type": "string"},
    "first_name": {"type": "string"},
    "last_name": {"type": "string"},
    "phone": {"type": "string"},
    "description": {"type": "string", "maxLength": 4000},
    "media_url": {"type": "string", "format": "uri"},
    "attribute[urgency]": {"enum": list(Urgency.values)},
    "idempotency_key": {
        "type": "string",
        "maxLength": 255,
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
            "get": _get("GET Service List: the leaf categories", "Services", fmt, [JURISDICTION])
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
                        "schema": {"type": "string", "maxLength": 255},
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
            " case dispatch engine: services are leaf categories, service requests are cases.",
        },
        "servers": [{"url": server_url}],
        "paths": _paths(),
        "components": {"schemas": SCHEMAS},
    }
