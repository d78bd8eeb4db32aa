"""The OpenAPI document of the Open311 API stays true: every route documented, every
documented path routed, real responses valid against its schemas, and a bounded
schemathesis run that finds no server error."""

import re

import jsonschema_rs
import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.urls import resolve
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from cases.models import ApiRequest, Case, IdempotencyKey
from cases.open311 import urls as open311_urls
from cases.services.apikeys import api_key_create
from tests.cases.open311support import BASE, api_key_fixture  # noqa: F401

EXAMPLES = {"service_code": "STALL", "service_request_id": "2026-000001", "token": "abc"}


@pytest.fixture
def document(client, db):
    response = client.get(f"{BASE}/openapi.json")
    assert response.status_code == 200
    return response.json()


def concrete(path: str) -> str:
    return BASE + re.sub(r"\{(\w+)\}", lambda m: EXAMPLES[m.group(1)], path)


def test_the_document_is_openapi_3_1_and_names_the_server(document):
    assert document["openapi"] == "3.1.0"
    assert document["servers"] == [{"url": "http://testserver/open311/v2"}]


def test_every_documented_path_resolves_to_its_api_view(document):
    for path in document["paths"]:
        match = resolve(concrete(path))
        assert match.namespace == "open311" and match.url_name, path


def test_every_route_is_documented_in_both_formats(document):
    documented = {
        resolve(concrete(path)).url_name + "." + path.rsplit(".", 1)[1]
        for path in document["paths"]
    }
    routed = set()
    for pattern in open311_urls.urlpatterns:
        if pattern.name is None:  # the catch-all that answers 404 documents
            continue
        formats = ("json", "xml") if "fmt" in pattern.pattern.regex.groupindex else ("json",)
        routed |= {f"{pattern.name}.{fmt}" for fmt in formats}
    assert documented == routed


def test_the_documented_operations_are_the_ones_served(document):
    methods = {path: set(item) for path, item in document["paths"].items()}
    assert methods["/requests.json"] == {"get", "post"}
    assert all(m == {"get"} for p, m in methods.items() if not p.startswith("/requests."))


def test_a_posted_parameter_is_documented_as_long_as_the_column_that_keeps_it(document):
    column = {
        "address_string": Case._meta.get_field("address"),
        "first_name": Case._meta.get_field("reporter_name"),
        "last_name": Case._meta.get_field("reporter_name"),
        "phone": Case._meta.get_field("reporter_phone"),
        "email": ApiRequest._meta.get_field("email"),
        "device_id": ApiRequest._meta.get_field("device_id"),
        "account_id": ApiRequest._meta.get_field("account_id"),
        "media_url": ApiRequest._meta.get_field("media_url"),
        "idempotency_key": IdempotencyKey._meta.get_field("key"),
    }
    post = document["paths"]["/requests.json"]["post"]
    for media in post["requestBody"]["content"].values():
        fields = media["schema"]["properties"]
        assert {name: fields[name].get("maxLength") for name in column} == {
            name: field.max_length for name, field in column.items()
        }
    (header,) = post["parameters"]
    assert header["schema"]["maxLength"] == IdempotencyKey._meta.get_field("key").max_length


def validator_for(document, path: str, method: str, status: str):
    content = document["paths"][path][method]["responses"][status]["content"]
    schema = {**content["application/json"]["schema"], "components": document["components"]}
    return jsonschema_rs.Draft202012Validator(schema, validate_formats=True)


def test_real_responses_validate_against_the_schemas(
    client, document, world, cast, report, api_key
):
    from cases.services import workflow

    assigned = report(description="待受理")
    workflow.case_cancel(
        case=report(category=world.lamp, description="重复"), actor=cast.dispatcher, reason="重复"
    )
    report(category=world.stall, description="占道")
    posted = client.post(
        f"{BASE}/requests.json",
        {"api_key": api_key[1], "service_code": "LAMP", "address_id": "N-01"},
    )
    token = str(ApiRequest.objects.get().token)
    calls = [
        ("/discovery.json", {}, "200"),
        ("/services.json", {}, "200"),
        ("/services/{service_code}.json", {}, "200"),
        ("/requests.json", {}, "200"),
        ("/requests.json", {"extensions": "true"}, "200"),
        ("/requests/{service_request_id}.json", {"extensions": "true"}, "200"),
        ("/tokens/{token}.json", {}, "200"),
        ("/services/{service_code}.json", {}, "404"),
        ("/requests.json", {"status": "nope"}, "400"),
    ]
    examples = {"service_code": "STALL", "service_request_id": assigned.number, "token": token}
    for path, params, status in calls:
        values = dict(examples, service_code="NOPE") if status == "404" else examples
        url = BASE + re.sub(r"\{(\w+)\}", lambda m, v=values: v[m.group(1)], path)
        response = client.get(url, params)
        assert str(response.status_code) == status, url
        validator_for(document, path, "get", status).validate(response.json())
    assert posted.status_code == 200
    validator_for(document, "/requests.json", "post", "200").validate(posted.json())
    refused = client.post(f"{BASE}/requests.json", {"service_code": "LAMP"})
    validator_for(document, "/requests.json", "post", "403").validate(refused.json())


def test_every_documented_example_validates_against_its_schema(document):
    checked = 0
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                media = response["content"].get("application/json")
                if media is None or "example" not in media:
                    continue
                validator_for(document, path, method, status).validate(media["example"])
                checked += 1
    # Every JSON answer but the document itself carries an example.
    assert checked == sum(
        1
        for path, item in document["paths"].items()
        for operation in item.values()
        for response in operation["responses"].values()
        if path.endswith(".json") and path != "/openapi.json"
    )


def test_the_schemas_reject_what_the_specification_forbids(document):
    validator = validator_for(document, "/requests.json", "get", "200")
    good = {
        "service_request_id": "2026-000001",
        "status": "open",
        "status_notes": "assigned",
        "service_name": None,
        "service_code": None,
        "description": "x",
        "agency_responsible": None,
        "service_notice": None,
        "requested_datetime": "2026-01-01T00:00:00+08:00",
        "updated_datetime": "2026-01-01T00:00:00+08:00",
        "expected_datetime": None,
        "address": None,
        "address_id": None,
        "zipcode": None,
        "lat": None,
        "long": None,
        "media_url": None,
    }
    assert validator.is_valid([good])
    assert not validator.is_valid([{**good, "status": "assigned"}])
    assert not validator.is_valid([{**good, "service_request_id": 1}])
    assert not validator.is_valid({"service_requests": [good]})


# --- schemathesis -----------------------------------------------------------------------

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def fuzz(operation, *, raw_key: str | None = None) -> None:
    """A bounded, reproducible hypothesis run of one operation, checking every answer
    against the document. With `raw_key`, posts carry a valid key, a known service and a
    cell, so the fuzzed fields get past the 403/404 answers into validation and the intake.
    """

    @given(case=operation.as_strategy())
    @settings(
        max_examples=10,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def run(case):
        if raw_key and isinstance(case.body, dict):
            case.body.update(api_key=raw_key, service_code="LAMP", address_id="N-01")
            case.body.pop("lat", None)  # half a coordinate pair is refused
            case.body.pop("long", None)
        case.call_and_validate(checks=CHECKS)

    run()


@pytest.fixture
def wsgi_app():
    """Django's WSGI application, keeping the test's database connection open between
    requests as Django's test client does (a finished request would close it)."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    try:
        yield WSGIHandler()
    finally:
        for signal in (request_started, request_finished):
            signal.connect(close_old_connections)


def test_schemathesis_finds_no_server_error_and_no_undocumented_answer(
    document, world, report, wsgi_app
):
    report(description="待受理")
    report(category=world.stall, description="占道")
    _key, raw = api_key_create(name="schemathesis", rate_limit_per_minute=100_000)
    schema = schemathesis.openapi.from_wsgi(f"{BASE}/openapi.json", wsgi_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    # Every API operation; schemathesis leaves out the document's own path.
    expected = {
        f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        for method in item
        if path != "/openapi.json"
    }
    assert {operation.label for operation in operations} == expected

    for operation in operations:
        fuzz(operation)
        if operation.method.upper() == "POST":
            fuzz(operation, raw_key=raw)
    assert ApiRequest.objects.filter(http_status=200).exists()
