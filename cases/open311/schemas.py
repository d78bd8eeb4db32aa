"""The shapes of the Open311 documents (JSON Schema, for the OpenAPI document in
cases/open311/openapi.py) and an example of each, which tests/cases/test_open311_openapi.py
checks against its schema."""

from cases.models import CaseFallbackReason, State, Urgency


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
