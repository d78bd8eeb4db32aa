"""The Open311 GeoReport v2 endpoints (SPEC §7): formats, filters, posting and errors."""

import io
import socket
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from PIL import Image

from cases.models import ApiRequest, Case, Source, State
from cases.services import workflow
from cases.services.open311 import full_name
from tests.cases.open311support import (
    BASE,
    api_key_fixture,  # noqa: F401
    parse_json,
    parse_xml,
    post_request,
    stringify,
    xml_to_python,
)
from tests.conftest import centre_of

NOW = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)  # a Tuesday, 10:00 in Shanghai


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def both_formats(client, path, **params):
    """GET `path` in JSON and XML; assert both say the same and return the JSON."""
    as_json = client.get(f"{BASE}/{path}.json", params)
    as_xml = client.get(f"{BASE}/{path}.xml", params)
    assert as_json.status_code == as_xml.status_code
    data = parse_json(as_json)
    assert xml_to_python(parse_xml(as_xml)) == stringify(data)
    return as_json.status_code, data


# --- discovery and services ---------------------------------------------------------------


def test_discovery_names_the_specification_and_both_formats(client, db):
    status, data = both_formats(client, "discovery")
    assert status == 200
    assert set(data) == {"changeset", "contact", "key_service", "endpoints"}
    (endpoint,) = data["endpoints"]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"] == "http://testserver/open311/v2/"
    assert endpoint["type"] in ("production", "test")
    assert endpoint["formats"] == ["text/xml", "application/json"]


def test_discovery_xml_root_is_discovery(client, db):
    root = parse_xml(client.get(f"{BASE}/discovery.xml"))
    assert root.tag == "discovery"
    assert [e.tag for e in root.find("endpoints")] == ["endpoint"]
    assert [e.text for e in root.find("endpoints/endpoint/formats")] == [
        "text/xml",
        "application/json",
    ]


def test_services_are_the_categories_grouped_by_their_parent(client, world):
    """SPEC §7: service codes are category codes; a broader category is offered too, as
    the web form offers it, and routes by its own rules."""
    status, services = both_formats(client, "services")
    assert status == 200
    assert [s["service_code"] for s in services] == ["ENV", "ENV-RUBBISH", "LAMP", "STALL"]
    assert services[0]["group"] is None
    rubbish = services[1]
    assert rubbish == {
        "service_code": "ENV-RUBBISH",
        "service_name": "暴露垃圾",
        "description": "暴露垃圾",
        "metadata": True,
        "type": "realtime",
        "keywords": "ENV-RUBBISH, ENV",
        "group": "环境卫生",
    }
    assert services[2]["group"] is None


def test_the_service_list_is_one_query(client, world, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert len(client.get(f"{BASE}/services.xml").content) > 0


def test_service_list_xml_has_a_service_element_per_service(client, world):
    root = parse_xml(client.get(f"{BASE}/services.xml"))
    assert root.tag == "services"
    assert [s.findtext("service_code") for s in root.findall("service")] == [
        "ENV",
        "ENV-RUBBISH",
        "LAMP",
        "STALL",
    ]
    assert root.find("service/metadata").text == "true"


def test_service_definition_offers_the_urgency_attribute(client, world):
    status, definition = both_formats(client, "services/STALL")
    assert status == 200
    assert definition["service_code"] == "STALL"
    (attribute,) = definition["attributes"]
    assert attribute["code"] == "urgency"
    assert attribute["datatype"] == "singlevaluelist"
    assert attribute["variable"] is True and attribute["required"] is False
    assert attribute["order"] == 1
    assert [v["key"] for v in attribute["values"]] == ["normal", "urgent", "emergency"]


def test_service_definition_xml_root_and_values(client, world):
    root = parse_xml(client.get(f"{BASE}/services/STALL.xml"))
    assert root.tag == "service_definition"
    keys = [v.findtext("key") for v in root.findall("attributes/attribute/values/value")]
    assert keys == ["normal", "urgent", "emergency"]


def test_an_unknown_service_definition_is_not_found(client, world):
    status, errors = both_formats(client, "services/NOPE")
    assert status == 404
    assert errors == [{"code": 404, "description": "service_code NOPE was not found."}]


def test_a_broader_category_is_understood_though_only_leaves_are_listed(client, world, api_key):
    status, definition = both_formats(client, "services/ENV")
    assert status == 200 and definition["service_code"] == "ENV"
    response = post_request(client, api_key[1], service_code="ENV", address_id="N-01")
    assert response.status_code == 200
    case = Case.objects.get(number=response.json()[0]["service_request_id"])
    assert case.category == world.environment and case.lead_department == world.urban


# --- posting ----------------------------------------------------------------------------


def test_posting_creates_and_routes_a_case_through_the_intake(client, world, api_key, clock):
    key, raw = api_key
    lat, lng = centre_of(0)
    response = post_request(
        client,
        raw,
        service_code="ENV-RUBBISH",
        lat=str(lat),
        long=str(lng),
        address_string="北街道 1 号",
        description="路边垃圾",
        first_name="小明",
        last_name="王",
        phone="13800000000",
        email="wang@example.org",
        device_id="dev-1",
        account_id="acc-9",
        media_url="https://example.org/a.jpg",
    )
    assert response.status_code == 200
    (answer,) = parse_json(response)
    case = Case.objects.get(number=answer["service_request_id"])
    assert answer == {
        "service_request_id": case.number,
        "service_notice": "Assigned to 城管局.",
        "account_id": "acc-9",
    }
    assert response["Location"] == f"http://testserver{BASE}/requests/{case.number}.json"
    assert case.state == State.ASSIGNED
    assert case.source == Source.OPEN311 and case.reported_by is None
    assert case.cell == world.n1 and case.township == world.north
    assert case.lead_department == world.urban
    assert (case.address, case.description) == ("北街道 1 号", "路边垃圾")
    # A Chinese name as it is written: family name first, unspaced.
    assert (case.reporter_name, case.reporter_phone) == ("王小明", "13800000000")
    assert list(case.events.values_list("action", flat=True)) == ["report", "route"]
    logged = ApiRequest.objects.get(case=case)
    assert logged.api_key == key and logged.http_status == 200
    assert (logged.email, logged.device_id, logged.media_url) == (
        "wang@example.org",
        "dev-1",
        "https://example.org/a.jpg",
    )
    key.refresh_from_db()
    assert key.last_used_at == NOW


@pytest.mark.parametrize(
    ("first_name", "last_name", "kept"),
    [
        ("小明", "王", "王小明"),
        ("John", "Smith", "John Smith"),
        ("", "王", "王"),
        ("Ming", "王", "Ming 王"),
    ],
)
def test_the_reporters_name_is_kept_in_the_order_its_language_writes_it(
    first_name, last_name, kept
):
    assert full_name(first_name, last_name) == kept


def test_posting_in_xml_answers_in_xml(client, world, api_key):
    lat, lng = centre_of(1)
    response = post_request(
        client, api_key[1], fmt="xml", service_code="LAMP", lat=lat, long=lng, description="灯坏了"
    )
    assert response.status_code == 200
    root = parse_xml(response)
    assert root.tag == "service_requests"
    number = root.findtext("request/service_request_id")
    case = Case.objects.get(number=number)
    assert case.state == State.FALLBACK and case.fallback_reason == "no_rule"
    assert "fallback pool" in root.findtext("request/service_notice")
    assert root.find("request/token") is None  # the id, never both (spec)


def test_a_description_reads_back_the_same_in_xml_as_in_json(client, world, api_key):
    # An XML parser turns a raw carriage return into a line feed; written as &#13; it stays.
    lat, lng = centre_of(1)
    sent = "灯坏了\r\n第二行\r第三行"
    posted = post_request(
        client, api_key[1], service_code="LAMP", lat=lat, long=lng, description=sent
    )
    number = posted.json()[0]["service_request_id"]
    as_json = client.get(f"/open311/v2/requests/{number}.json").json()[0]["description"]
    as_xml = parse_xml(client.get(f"/open311/v2/requests/{number}.xml")).findtext(
        "request/description"
    )
    assert as_json == as_xml == sent


def test_an_ambiguous_request_goes_to_the_fallback_pool_with_its_candidates(client, world, api_key):
    lat, lng = centre_of(0)
    response = post_request(client, api_key[1], service_code="STALL", lat=lat, long=lng)
    case = Case.objects.get(number=response.json()[0]["service_request_id"])
    assert case.state == State.FALLBACK and case.fallback_reason == "overlap"
    assert set(case.candidate_departments.values_list("code", flat=True)) == {"CG", "SJ"}
    # No description: the service name stands in, as the case needs one.
    assert case.description == "占道经营"


def test_address_id_is_the_grid_cell_code(client, world, api_key):
    response = post_request(client, api_key[1], service_code="ENV-RUBBISH", address_id="N-02")
    assert response.status_code == 200
    case = Case.objects.get(number=response.json()[0]["service_request_id"])
    assert case.cell == world.n2 and case.lat is None


def test_an_address_string_naming_a_cell_places_the_case_there(client, world, api_key):
    response = post_request(
        client, api_key[1], service_code="ENV-RUBBISH", address_string="网格 N-03 东门口"
    )
    assert response.status_code == 200
    case = Case.objects.get(number=response.json()[0]["service_request_id"])
    assert case.cell == world.n3 and case.address == "网格 N-03 东门口"


def test_an_address_string_naming_only_a_township_lands_in_its_pool(client, world, api_key):
    response = post_request(
        client, api_key[1], service_code="ENV-RUBBISH", address_string="南街道 幸福路 12 号"
    )
    assert response.status_code == 200
    case = Case.objects.get(number=response.json()[0]["service_request_id"])
    assert (case.state, case.fallback_reason) == (State.FALLBACK, "outside_grid")
    assert case.township == world.south and case.cell is None
    assert case.address == "南街道 幸福路 12 号"


def test_urgency_attribute_is_stored_on_the_case(client, world, api_key):
    lat, lng = centre_of(0)
    response = post_request(
        client,
        api_key[1],
        service_code="ENV-RUBBISH",
        lat=lat,
        long=lng,
        **{"attribute[urgency]": "urgent", "attribute[colour][]": ["red", "blue"]},
    )
    assert response.status_code == 200
    logged = ApiRequest.objects.get(case__number=response.json()[0]["service_request_id"])
    assert logged.case.urgency == "urgent"
    assert logged.attributes == {"urgency": "urgent", "colour": ["red", "blue"]}


def test_urgency_sent_as_a_list_of_one_is_taken_and_of_two_is_told_it_takes_one(
    client, world, api_key
):
    lat, lng = centre_of(0)
    one = post_request(
        client,
        api_key[1],
        service_code="ENV-RUBBISH",
        lat=lat,
        long=lng,
        **{"attribute[urgency][]": ["urgent"]},
    )
    assert one.status_code == 200
    assert Case.objects.get(number=one.json()[0]["service_request_id"]).urgency == "urgent"
    two = post_request(
        client,
        api_key[1],
        service_code="ENV-RUBBISH",
        lat=lat,
        long=lng,
        **{"attribute[urgency][]": ["urgent", "normal"]},
    )
    assert two.status_code == 400
    assert "takes one value" in two.json()[0]["description"]


def test_a_point_outside_every_cell_goes_to_the_nearest_township_pool(client, world, api_key):
    response = post_request(client, api_key[1], service_code="ENV-RUBBISH", lat=30.5, long=121.5)
    assert response.status_code == 200
    case = Case.objects.get(number=response.json()[0]["service_request_id"])
    assert case.state == State.FALLBACK and case.fallback_reason == "outside_grid"
    assert case.township == world.south


def test_a_point_outside_every_cell_goes_to_the_township_its_address_names(client, world, api_key):
    response = post_request(
        client,
        api_key[1],
        service_code="ENV-RUBBISH",
        lat=30.5,
        long=121.5,  # nearest to the south township
        address_string="北街道 幸福路 12 号",
    )
    assert response.status_code == 200
    case = Case.objects.get(number=response.json()[0]["service_request_id"])
    assert (case.state, case.fallback_reason) == (State.FALLBACK, "outside_grid")
    assert case.township == world.north and case.cell is None


def test_post_is_not_blocked_by_csrf(world, api_key):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    response = post_request(strict, api_key[1], service_code="ENV-RUBBISH", address_id="N-01")
    assert response.status_code == 200


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_post_without_api_key_is_forbidden(client, world, fmt):
    response = post_request(client, None, fmt=fmt, service_code="LAMP", address_id="N-01")
    assert response.status_code == 403
    errors = parse_json(response) if fmt == "json" else xml_to_python(parse_xml(response))
    assert str(errors[0]["code"]) == "403"
    assert "api_key" in errors[0]["description"]
    assert not Case.objects.exists()


@pytest.mark.parametrize("raw", ["wrong", "abcd1234.nope", ""])
def test_post_with_a_wrong_api_key_is_forbidden(client, world, api_key, raw):
    response = post_request(client, raw, service_code="LAMP", address_id="N-01")
    assert response.status_code == 403
    assert not Case.objects.exists()


def test_a_revoked_key_is_forbidden(client, world, api_key):
    from cases.services.apikeys import api_keys_revoke

    api_keys_revoke(key_ids=[api_key[0].pk])
    response = post_request(client, api_key[1], service_code="LAMP", address_id="N-01")
    assert response.status_code == 403


def test_unknown_service_code_is_not_found_and_logged(client, world, api_key):
    response = post_request(client, api_key[1], service_code="NOPE", address_id="N-01")
    assert response.status_code == 404
    assert response.json() == [{"code": 404, "description": "service_code NOPE was not found."}]
    assert not Case.objects.exists()
    logged = ApiRequest.objects.get()
    assert (logged.http_status, logged.case, logged.service_code) == (404, None, "NOPE")


LONG_EMAIL = "a" * 64 + "@" + "b" * 60 + "." + "c" * 60 + "." + "d" * 60 + "." + "e" * 10 + ".cn"


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"address_id": "N-01"}, "service_code is required"),
        ({"service_code": "LAMP"}, "location is required"),
        ({"service_code": "LAMP", "lat": "30.005"}, "together"),
        ({"service_code": "LAMP", "lat": "abc", "long": "120.005"}, "lat must be"),
        ({"service_code": "LAMP", "lat": "91", "long": "120"}, "lat must be"),
        ({"service_code": "LAMP", "lat": "30", "long": "nan"}, "long must be"),
        ({"service_code": "LAMP", "lat": "30", "long": "1e400"}, "long must be"),
        ({"service_code": "LAMP", "address_id": "Z-99"}, "address_id Z-99"),
        ({"service_code": "LAMP", "address_string": "火星"}, "names no grid cell"),
        ({"service_code": "LAMP", "address_id": "N-01", "email": "x@"}, "email"),
        (
            # Valid by Django's rules (320 characters at most) but longer than 254.
            {"service_code": "LAMP", "address_id": "N-01", "email": LONG_EMAIL},
            "email is not a valid address",
        ),
        ({"service_code": "LAMP", "address_id": "N-01", "media_url": "ftp://x"}, "media_url"),
        ({"service_code": "LAMP", "address_id": "N-01", "description": "x" * 4001}, "4000"),
        ({"service_code": "LAMP", "address_id": "N-01", "attribute[urgency]": "now"}, "urgency"),
        ({"service_code": "LAMP", "address_id": "N-01", "description": "a\x00b"}, "NUL"),
        ({"service_code": "LAMP", "address_id": "N-01", "attribute[a\x00b]": "1"}, "NUL"),
        ({"service_code": "LA\x00MP", "address_id": "N-01"}, "NUL"),  # logged all the same
        (
            {"service_code": "LAMP", "address_id": "N-01", "lat": "30.005", "long": "120.015"},
            "lie in grid cell N-02, not in address_id N-01",
        ),
    ],
)
def test_bad_posts_are_refused_with_400_and_change_nothing(client, world, api_key, fields, words):
    response = post_request(client, api_key[1], **fields)
    assert response.status_code == 400
    (error,) = response.json()
    assert error["code"] == 400 and words in error["description"]
    assert not Case.objects.exists()
    assert ApiRequest.objects.get().http_status == 400


def test_a_point_inside_the_cell_of_address_id_is_accepted(client, world, api_key):
    response = post_request(
        client, api_key[1], service_code="LAMP", address_id="N-01", lat="30.005", long="120.005"
    )
    assert response.status_code == 200
    assert Case.objects.get().cell == world.n1


def test_an_idempotency_key_sent_again_with_another_report_is_refused_with_422(
    client, world, api_key
):
    fields = {"api_key": api_key[1], "service_code": "LAMP", "address_id": "N-01"}
    url, key = f"{BASE}/requests.json", {"Idempotency-Key": "k-1"}
    first = client.post(url, {**fields, "description": "路灯不亮"}, headers=key)
    again = client.post(url, {**fields, "description": "路灯不亮"}, headers=key)
    other = client.post(url, {**fields, "description": "井盖缺失"}, headers=key)
    assert first.status_code == again.status_code == 200
    assert other.status_code == 422
    number = first.json()[0]["service_request_id"]
    assert f"used for another request (case {number})" in other.json()[0]["description"]
    assert Case.objects.count() == 1
    # Compared with what was posted: a category corrected since does not refuse a retry.
    Case.objects.filter(number=number).update(category=world.rubbish)
    retried = client.post(url, {**fields, "description": "路灯不亮"}, headers=key)
    assert retried.status_code == 200 and retried["Idempotent-Replayed"] == "true"


def test_a_replayed_post_names_the_department_that_took_the_case_since(
    client, world, api_key, cast
):
    fields = {"api_key": api_key[1], "service_code": "ENV-RUBBISH", "address_id": "N-01"}
    url, key = f"{BASE}/requests.json", {"Idempotency-Key": "k-1"}
    first = client.post(url, fields, headers=key)
    assert first.json()[0]["service_notice"] == "Assigned to 城管局."
    workflow.case_accept(case=Case.objects.get(), actor=cast.liaison)
    again = client.post(url, fields, headers=key)
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()[0]["service_notice"] == "Assigned to 城管局."
    workflow.case_return(case=Case.objects.get(), actor=cast.liaison, reason="不归我们管")
    returned = client.post(url, fields, headers=key)
    assert returned.json()[0]["service_notice"] == (
        "In the fallback pool of 北街道: returned by the department."
    )


def test_a_nul_in_the_idempotency_key_header_is_refused_with_400(client, world, api_key):
    response = client.post(
        f"{BASE}/requests.json",
        {"api_key": api_key[1], "service_code": "LAMP", "address_id": "N-01"},
        headers={"Idempotency-Key": "k\x001"},
    )
    assert response.status_code == 400
    assert "Idempotency-Key contains a NUL" in response.json()[0]["description"]
    assert not Case.objects.exists()


def test_a_json_body_is_told_to_be_form_encoded_not_that_its_key_is_missing(client, world, api_key):
    response = client.post(
        f"{BASE}/requests.json",
        {"api_key": api_key[1], "service_code": "LAMP", "address_id": "N-01"},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "form-encoded" in response.json()[0]["description"]


def test_a_post_with_no_body_is_read_from_its_query_string(client, world, api_key):
    fields = {"api_key": api_key[1], "service_code": "LAMP", "address_id": "N-01"}
    response = client.generic("POST", f"{BASE}/requests.json?{urlencode(fields)}", content_type="")
    assert response.status_code == 200, response.content
    number = response.json()[0]["service_request_id"]
    assert Case.objects.get(number=number).cell.code == "N-01"


def test_the_attributes_of_a_post_with_no_body_are_read_from_its_query_string(
    client, world, api_key
):
    fields = {
        "api_key": api_key[1],
        "service_code": "LAMP",
        "address_id": "N-01",
        "attribute[urgency]": "emergency",
        "attribute[colour][]": ["red", "blue"],
    }
    url = f"{BASE}/requests.json?{urlencode(fields, doseq=True)}"
    response = client.generic("POST", url, content_type="")
    assert response.status_code == 200, response.content
    logged = ApiRequest.objects.get(case__number=response.json()[0]["service_request_id"])
    assert logged.case.urgency == "emergency"
    assert logged.attributes == {"urgency": "emergency", "colour": ["red", "blue"]}


def test_an_attribute_in_the_body_wins_over_the_query_string(client, world, api_key):
    fields = {"api_key": api_key[1], "service_code": "LAMP", "address_id": "N-01"}
    response = client.post(
        f"{BASE}/requests.json?{urlencode({'attribute[urgency]': 'normal'})}",
        urlencode({**fields, "attribute[urgency]": "urgent"}),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200, response.content
    assert Case.objects.get().urgency == "urgent"


def test_a_body_without_a_content_type_is_told_to_be_form_encoded(client, world, api_key):
    body = urlencode({"api_key": api_key[1], "service_code": "LAMP", "address_id": "N-01"})
    response = client.generic("POST", f"{BASE}/requests.xml", body, content_type="")
    assert response.status_code == 400
    error = xml_to_python(parse_xml(response))[0]
    assert error["description"].endswith("not as a body with no Content-Type.")
    assert not Case.objects.exists()


def test_an_unreadable_body_is_an_error_document_not_an_html_page(client, world, api_key, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    fields = {f"attribute[x{n}]": "1" for n in range(20)}
    response = post_request(client, api_key[1], "xml", service_code="LAMP", **fields)
    assert response.status_code == 400
    error = xml_to_python(parse_xml(response))[0]
    assert "could not be read" in error["description"]
    assert not Case.objects.exists()


@pytest.mark.parametrize("charset", ["utf8", "UTF8", "UTF-8"])
def test_a_form_body_labelled_utf8_in_another_spelling_is_read(client, world, api_key, charset):
    fields = {"api_key": api_key[1], "service_code": "LAMP", "address_id": "N-01"}
    response = client.post(
        f"{BASE}/requests.json",
        urlencode({**fields, "description": "路灯不亮"}),
        content_type=f"application/x-www-form-urlencoded; charset={charset}",
    )
    assert response.status_code == 200
    assert Case.objects.get().description == "路灯不亮"


def test_a_form_body_in_another_charset_than_utf8_is_an_error_document(client, world, api_key):
    body = urlencode({"api_key": api_key[1], "service_code": "LAMP", "address_id": "N-01"})
    response = client.post(
        f"{BASE}/requests.xml", body, content_type="application/x-www-form-urlencoded; charset=gbk"
    )
    assert response.status_code == 400
    error = xml_to_python(parse_xml(response))[0]
    assert "UTF-8" in error["description"]
    assert not Case.objects.exists()


@pytest.mark.parametrize("charset", ["", "; charset=utf-8"])
@pytest.mark.parametrize("where", ["body", "query string"])
def test_fields_in_gbk_are_refused_not_stored_as_replacement_characters(
    client, world, api_key, charset, where
):
    """A GBK form sent without its charset, or labelled UTF-8: Django would read each bad
    byte as U+FFFD, and the case would keep "·�Ʋ���" for 路灯不亮."""
    fields = {"api_key": api_key[1], "service_code": "LAMP", "address_id": "N-01"}
    gbk = urlencode({"description": "路灯不亮"}, encoding="gbk")
    body, query = (f"{urlencode(fields)}&{gbk}", "") if where == "body" else ("", gbk)
    response = client.generic(
        "POST",
        f"{BASE}/requests.xml?{query}",
        body if where == "body" else urlencode(fields),
        content_type=f"application/x-www-form-urlencoded{charset}",
    )
    assert response.status_code == 400
    error = xml_to_python(parse_xml(response))[0]
    assert "UTF-8" in error["description"]
    assert not Case.objects.exists()


def test_the_openapi_document_refuses_a_post_with_405_not_a_csrf_page(client, db):
    response = client.post(f"{BASE}/openapi.json")
    assert response.status_code == 405


def test_an_end_date_copied_from_a_requested_datetime_includes_that_request(client, world, api_key):
    post_request(client, api_key[1], service_code="LAMP", address_id="N-01")
    (shown,) = client.get(f"{BASE}/requests.json").json()
    assert "." not in shown["requested_datetime"]  # shown to the second, stored finer
    found = client.get(
        f"{BASE}/requests.json",
        {"start_date": shown["requested_datetime"], "end_date": shown["requested_datetime"]},
    ).json()
    assert [r["service_request_id"] for r in found] == [shown["service_request_id"]]


def test_an_empty_optional_parameter_counts_as_absent(client, world, api_key):
    response = post_request(
        client,
        api_key[1],
        service_code="LAMP",
        address_id="N-01",
        lat="",
        long="",
        email="",
        media_url="",
    )
    assert response.status_code == 200


def test_other_methods_are_not_allowed(client, db):
    response = client.delete(f"{BASE}/services.json")
    assert response.status_code == 405
    assert response.json()[0]["code"] == 405
    assert "GET" in response["Allow"]


def test_anything_else_under_the_api_is_an_error_document(client, db):
    response = client.get(f"{BASE}/frobnicate.xml")
    assert response.status_code == 404
    assert xml_to_python(parse_xml(response))[0]["code"] == "404"


@pytest.fixture
def database_out_of_reach(transactional_db, api_key):
    """The database's port moved to one where nothing listens, as when PostgreSQL is down:
    every new connection is refused, for real."""
    from django.db import connection

    with socket.socket() as probe:  # a port just freed: nothing listens there
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    real = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict.update(HOST="127.0.0.1", PORT=str(closed_port))
    yield api_key[1]
    connection.close()
    connection.settings_dict.clear()
    connection.settings_dict.update(real)


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_with_the_database_down_the_api_answers_503_in_its_own_format(
    client, database_out_of_reach, fmt, caplog
):
    read = client.get(f"{BASE}/services.{fmt}")
    posted = client.post(
        f"{BASE}/requests.{fmt}",
        {"api_key": database_out_of_reach, "service_code": "X", "description": "垃圾"},
    )
    for response in (read, posted):
        assert response.status_code == 503
        assert response["Retry-After"] == "30"
        error = response.json()[0] if fmt == "json" else xml_to_python(parse_xml(response))[0]
        assert str(error["code"]) == "503"
        assert "unavailable for a moment" in error["description"]
    assert "database unavailable" in caplog.text


# --- reading requests -------------------------------------------------------------------


@pytest.fixture
def cases(world, cast, report, clock):
    """Five cases over time: assigned, in progress, fallback, closed and cancelled."""
    made = {}
    clock.move_to(NOW - timedelta(days=100))
    made["old"] = report(description="一百天前")
    clock.move_to(NOW - timedelta(days=10))
    made["assigned"] = report(description="待受理", address="北街道 2 号")
    clock.move_to(NOW - timedelta(days=8))
    made["overlap"] = report(category=world.stall, cell=world.n2, description="占道")
    clock.move_to(NOW - timedelta(days=6))
    made["closed"] = report(description="已办结")
    workflow.case_accept(case=made["closed"], actor=cast.liaison)
    workflow.case_resolve(case=made["closed"], actor=cast.liaison, note="清理完毕")
    workflow.case_verify(case=made["closed"], actor=cast.caseworker)
    clock.move_to(NOW - timedelta(days=4))
    made["cancelled"] = report(category=world.lamp, description="重复")
    workflow.case_cancel(case=made["cancelled"], actor=cast.dispatcher, reason="重复上报")
    clock.move_to(NOW)
    for case in made.values():
        case.refresh_from_db()
    return made


def ids(data):
    return [r["service_request_id"] for r in data]


def test_requests_default_to_the_last_90_days_newest_first(client, cases):
    status, data = both_formats(client, "requests")
    assert status == 200
    assert ids(data) == [
        cases["cancelled"].number,
        cases["closed"].number,
        cases["overlap"].number,
        cases["assigned"].number,
    ]


def test_a_request_has_the_specification_fields(client, cases):
    case = cases["assigned"]
    (request,) = client.get(f"{BASE}/requests/{case.number}.json").json()
    lat, lng = case.lat, case.lng
    assert request == {
        "service_request_id": case.number,
        "status": "open",
        "status_notes": "assigned",
        "service_name": "暴露垃圾",
        "service_code": "ENV-RUBBISH",
        "description": "待受理",
        "agency_responsible": "城管局",
        "service_notice": None,
        "requested_datetime": "2026-02-28T10:00:00+08:00",
        "updated_datetime": timezone.localtime(case.updated_at).isoformat(),
        "expected_datetime": timezone.localtime(case.due_at).isoformat(),
        "address": "北街道 2 号",
        "address_id": "N-01",
        "zipcode": None,
        "lat": lat,
        "long": lng,
        "media_url": None,
    }
    assert "extended_attributes" not in request


def test_closed_and_cancelled_cases_are_closed_with_the_state_in_the_notes(client, cases):
    data = client.get(f"{BASE}/requests.json").json()
    by_id = {r["service_request_id"]: r for r in data}
    closed, cancelled = by_id[cases["closed"].number], by_id[cases["cancelled"].number]
    assert (closed["status"], closed["status_notes"]) == ("closed", "closed")
    assert (cancelled["status"], cancelled["status_notes"]) == ("closed", "cancelled")
    assert closed["updated_datetime"] == timezone.localtime(cases["closed"].closed_at).isoformat()
    assert closed["expected_datetime"] is None
    overlap = by_id[cases["overlap"].number]
    assert overlap["status"] == "open"
    assert overlap["status_notes"] == "fallback pool: several departments are responsible"
    assert overlap["agency_responsible"] is None


def test_the_notes_of_a_case_in_the_pool_are_punctuated_in_chinese_for_a_chinese_client(
    client, cases
):
    response = client.get(
        f"{BASE}/requests/{cases['overlap'].number}.json", headers={"Accept-Language": "zh-hans"}
    )
    assert response.json()[0]["status_notes"] == "兜底池：多个部门都有职责"


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("open", ["overlap", "assigned"]),
        ("closed", ["cancelled", "closed"]),
        ("open,closed", None),
        ("Closed", ["cancelled", "closed"]),
    ],
)
def test_status_filter(client, cases, status, expected):
    _status, data = both_formats(client, "requests", status=status)
    if expected is None:
        assert len(data) == 4
    else:
        assert ids(data) == [cases[name].number for name in expected]


def test_service_code_filter_takes_a_comma_list(client, cases):
    _status, data = both_formats(client, "requests", service_code="STALL,LAMP")
    assert ids(data) == [cases["cancelled"].number, cases["overlap"].number]


def test_a_service_code_naming_no_category_asks_for_no_case(client, cases):
    """The cases are filtered by their categories' ids: joined on the codes, a code with no
    cases read every case of the 90 days newest first to find none (0.55 s at a million)."""
    with CaptureQueriesContext(connection) as queries:
        _status, data = both_formats(client, "requests", service_code="NOPE")
    assert data == []
    assert not [q for q in queries if '"cases_case"' in q["sql"]]
    with CaptureQueriesContext(connection) as queries:
        _status, data = both_formats(client, "requests", service_code="NOPE,LAMP")
    assert ids(data) == [cases["cancelled"].number]
    (listing,) = {q["sql"] for q in queries if 'FROM "cases_case"' in q["sql"]}
    assert 'departments_category"."code"' not in listing.split("WHERE")[1], listing


def test_date_filters_select_on_requested_datetime(client, cases):
    data = client.get(
        f"{BASE}/requests.json",
        {"start_date": "2026-03-01T00:00:00+08:00", "end_date": "2026-03-05T00:00:00+08:00"},
    ).json()
    assert ids(data) == [cases["closed"].number, cases["overlap"].number]


def test_a_month_or_a_year_alone_is_a_w3c_datetime_from_its_first_midnight(client, cases):
    """The W3C note GeoReport names has the precisions YYYY and YYYY-MM too."""
    data = client.get(f"{BASE}/requests.json", {"start_date": "2026-03"}).json()
    assert ids(data) == [cases[name].number for name in ("cancelled", "closed", "overlap")]
    data = client.get(f"{BASE}/requests.json", {"end_date": "2026"}).json()
    assert ids(data) == [cases["old"].number]
    _status, errors = both_formats(client, "requests", start_date="2026-13")
    assert "start_date must be" in errors[0]["description"]


def test_an_unencoded_plus_in_the_offset_is_understood(client, cases):
    query = "start_date=2026-03-01T00:00:00+08:00&end_date=2026-03-05T00:00:00+08:00"
    data = client.get(f"{BASE}/requests.json?{query}").json()
    assert ids(data) == [cases["closed"].number, cases["overlap"].number]


def test_a_lower_case_t_and_z_read_as_their_capitals(client, cases):
    """RFC 3339, which ISO timestamps of most programs follow, allows both in lower case."""
    query = {"start_date": "2026-02-28t16:00:00z", "end_date": "2026-03-04t16:00:00z"}
    data = client.get(f"{BASE}/requests.json", query).json()
    assert ids(data) == [cases["closed"].number, cases["overlap"].number]


def test_start_date_alone_reaches_90_days_forward(client, cases):
    data = client.get(f"{BASE}/requests.json", {"start_date": "2025-11-01T00:00:00Z"}).json()
    assert ids(data) == [cases["old"].number]


def test_end_date_alone_reaches_90_days_back(client, cases):
    data = client.get(f"{BASE}/requests.json", {"end_date": "2026-03-03T00:00:00Z"}).json()
    assert ids(data) == [cases["overlap"].number, cases["assigned"].number]


def test_service_request_id_overrides_every_other_filter(client, cases):
    wanted = f"{cases['old'].number},{cases['closed'].number}"
    _status, data = both_formats(
        client, "requests", service_request_id=wanted, status="open", service_code="LAMP"
    )
    assert sorted(ids(data)) == sorted([cases["old"].number, cases["closed"].number])


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"start_date": "yesterday"}, "start_date must be"),
        ({"end_date": "2026-13-01T00:00:00Z"}, "end_date must be"),
        ({"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-04-02T00:00:00Z"}, "90 days"),
        ({"start_date": "2026-03-01T00:00:00Z", "end_date": "2026-02-01T00:00:00Z"}, "before"),
        ({"status": "pending"}, "status must be"),
        ({"start_date": "9999-12-31T00:00:00Z"}, "out of range"),
    ],
)
def test_bad_filters_are_refused_with_400(client, cases, params, words):
    status, errors = both_formats(client, "requests", **params)
    assert status == 400
    assert words in errors[0]["description"]


def test_the_list_is_capped_at_1000_newest_first(client, world, clock, django_assert_num_queries):
    # 1001 pool cases in one statement: the cap, not the intake, is under test here.
    Case.objects.bulk_create(
        Case(
            number=f"2026-{i:06d}",
            state=State.FALLBACK,
            fallback_reason="no_rule",
            township=world.north,
            category=world.lamp,
            cell=world.n1,
            description=f"第 {i} 件",
            source=Source.OPEN311,
            created_at=NOW - timedelta(minutes=i),
        )
        for i in range(1, 1002)
    )
    with django_assert_num_queries(1):
        data = client.get(f"{BASE}/requests.json").json()
    assert len(data) == 1000
    assert data[0]["service_request_id"] == "2026-000001"
    assert data[-1]["service_request_id"] == "2026-001000"


def test_one_request_in_both_formats(client, cases):
    status, data = both_formats(client, f"requests/{cases['overlap'].number}")
    assert status == 200 and ids(data) == [cases["overlap"].number]


def test_an_unknown_request_is_not_found(client, cases):
    status, errors = both_formats(client, "requests/2026-999999")
    assert status == 404
    assert "2026-999999" in errors[0]["description"]


def test_extensions_add_the_extended_attributes(client, cases, world, cast):
    case = cases["assigned"]
    workflow.case_return(case=case, actor=cast.liaison, reason="不归我们管")
    workflow.case_dispatch(
        case=case, actor=cast.dispatcher, lead=world.housing, assisting=[world.market, world.urban]
    )
    _status, data = both_formats(client, f"requests/{case.number}", extensions="true")
    assert data[0]["extended_attributes"] == {
        "state": "assigned",
        "department_code": "ZJ",
        "assisting_department_codes": ["CG", "SJ"],
        "fallback_reason": None,
        "candidate_department_codes": [],
        "grid_cell": "N-01",
        "escalation_level": 0,
    }
    _status, data = both_formats(client, "requests", extensions="true", service_code="STALL")
    assert data[0]["extended_attributes"]["fallback_reason"] == "overlap"
    assert data[0]["extended_attributes"]["candidate_department_codes"] == ["CG", "SJ"]
    assert data[0]["extended_attributes"]["department_code"] is None


def test_extensions_xml_lists_codes_as_elements(client, cases):
    root = parse_xml(
        client.get(f"{BASE}/requests/{cases['overlap'].number}.xml", {"extensions": "true"})
    )
    codes = root.findall("request/extended_attributes/candidate_department_codes/department_code")
    assert [c.text for c in codes] == ["CG", "SJ"]


def test_the_list_costs_the_same_queries_for_many_cases(
    client, world, report, clock, django_assert_num_queries
):
    for i in range(3):
        report(description=f"第 {i} 件", category=world.stall)
    # With extensions: the cases, their assisting and their candidate departments.
    with django_assert_num_queries(3):
        few = client.get(f"{BASE}/requests.json", {"extensions": "true"}).json()
    for i in range(12):
        report(description=f"又 {i} 件", category=world.stall)
    with django_assert_num_queries(3):
        many = client.get(f"{BASE}/requests.xml", {"extensions": "true"})
    assert len(few) == 3 and len(parse_xml(many)) == 15
    with django_assert_num_queries(1):
        client.get(f"{BASE}/requests.json")


def test_a_posted_request_reads_back_with_its_media_url(client, world, api_key):
    response = post_request(
        client,
        api_key[1],
        service_code="ENV-RUBBISH",
        address_id="N-01",
        media_url="https://example.org/photo.jpg",
    )
    number = response.json()[0]["service_request_id"]
    (request,) = client.get(f"{BASE}/requests/{number}.json").json()
    assert request["media_url"] == "https://example.org/photo.jpg"


@pytest.mark.parametrize(
    "url",
    [
        "http://intranet/y.jpg",  # a single-label host, as inside a government network
        "https://photos:8443/2026/11/a.jpg?size=large",
        "http://localhost/a.jpg",
        "http://10.1.2.3/a.jpg",
        "http://[fd00::1]/a.jpg",
        "https://照片.example.cn/a.jpg",
    ],
)
def test_a_media_url_on_any_host_a_network_names_is_taken(client, world, api_key, url):
    response = post_request(
        client, api_key[1], service_code="ENV-RUBBISH", address_id="N-01", media_url=url
    )

    assert response.status_code == 200, response.content
    assert ApiRequest.objects.get().media_url == url


@pytest.mark.parametrize(
    ("url", "description"),
    [
        ("ftp://intranet/y.jpg", "media_url must be an http or https URL."),
        ("intranet/y.jpg", "media_url must be an http or https URL."),
        (
            "http://intranet/my photo.jpg",
            "media_url contains a space or a line break: write a space as %20.",
        ),
        ("http:///y.jpg", "media_url names no host (http://host/…)."),
        ("https://", "media_url names no host (http://host/…)."),
        (
            "http://intranet:99999/y.jpg",
            "media_url has a bad port (99999): it must be a number from 0 to 65535.",
        ),
        ("http://intra_net/y.jpg", "media_url has a bad host name (intra_net)."),
        ("http://999/y.jpg", "media_url has a bad host name (999)."),
    ],
)
def test_a_bad_media_url_is_refused_saying_what_is_wrong(client, world, api_key, url, description):
    response = post_request(
        client, api_key[1], service_code="ENV-RUBBISH", address_id="N-01", media_url=url
    )

    assert response.status_code == 400
    assert response.json() == [{"code": 400, "description": description}]
    assert not Case.objects.exists()


# --- tokens and jurisdictions -----------------------------------------------------------


def test_a_token_resolves_to_its_service_request_id(client, world, api_key):
    response = post_request(client, api_key[1], service_code="LAMP", address_id="N-01")
    number = response.json()[0]["service_request_id"]
    token = str(ApiRequest.objects.get(case__number=number).token)
    status, data = both_formats(client, f"tokens/{token}")
    assert status == 200
    assert data == [{"service_request_id": number, "token": token}]


@pytest.mark.parametrize("token", ["not-a-uuid", "6f1c2a52-5a8e-4b8e-9a57-2c7f1f1d2a00"])
def test_an_unknown_token_is_not_found(client, db, token):
    status, errors = both_formats(client, f"tokens/{token}")
    assert status == 404 and errors[0]["code"] == 404


def test_jurisdiction_id_is_accepted_when_one_jurisdiction_is_served(client, world):
    status, services = both_formats(client, "services", jurisdiction_id="anything.gov")
    assert status == 200 and len(services) == 4


def test_an_unknown_jurisdiction_is_not_found_when_jurisdictions_are_configured(
    client, world, settings
):
    settings.OPEN311_JURISDICTION_IDS = ["north.example.gov"]
    known = client.get(f"{BASE}/services.json", {"jurisdiction_id": "north.example.gov"})
    assert known.status_code == 200
    status, errors = both_formats(client, "services", jurisdiction_id="south.example.gov")
    assert status == 404 and "south.example.gov" in errors[0]["description"]
    # A jurisdiction id is a domain name, which has no letter case.
    shouted = client.get(f"{BASE}/services.json", {"jurisdiction_id": "North.Example.GOV"})
    assert shouted.status_code == 200


def test_jurisdiction_id_is_required_when_several_are_served(client, world, settings):
    settings.OPEN311_JURISDICTION_IDS = ["north.example.gov", "south.example.gov"]

    status, errors = both_formats(client, "services")
    assert status == 400 and errors[0]["code"] == 400
    assert "jurisdiction_id is required" in errors[0]["description"]
    assert "north.example.gov, south.example.gov" in errors[0]["description"]
    chosen = client.get(f"{BASE}/services.json", {"jurisdiction_id": "south.example.gov"})
    assert chosen.status_code == 200
    assert client.get(f"{BASE}/discovery.json").status_code == 200  # it has no jurisdiction


# --- media upload -----------------------------------------------------------------------


def jpeg_with_gps() -> io.BytesIO:
    image = Image.new("RGB", (32, 24), "red")
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (30.0, 0.0, 18.0)}  # GPSInfo: a position to leak
    data = io.BytesIO()
    image.save(data, "JPEG", exif=exif)
    data.seek(0)
    data.name = "photo.jpg"
    return data


def test_uploaded_media_is_stored_like_the_web_forms_photos(
    client, world, api_key, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    assert Image.open(jpeg_with_gps()).getexif().get_ifd(0x8825)
    response = post_request(
        client, api_key[1], service_code="ENV-RUBBISH", address_id="N-01", media=jpeg_with_gps()
    )
    assert response.status_code == 200
    case = Case.objects.get(number=response.json()[0]["service_request_id"])
    (photo,) = case.photos.all()
    assert photo.content_type == "image/jpeg" and photo.uploaded_by is None
    with photo.image.open("rb") as stored:
        assert not Image.open(stored).getexif().get_ifd(0x8825)


def test_a_media_file_that_is_not_an_image_refuses_the_request(
    client, world, api_key, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    fake = io.BytesIO(b"#!/bin/sh\necho not a photo\n")
    fake.name = "photo.jpg"
    response = post_request(
        client, api_key[1], service_code="ENV-RUBBISH", address_id="N-01", media=fake
    )
    assert response.status_code == 400
    assert "not a JPEG, PNG or WebP image" in response.json()[0]["description"]
    assert not Case.objects.exists()


def test_phone_numbers_and_emails_in_public_descriptions_are_masked(client, world, api_key):
    response = post_request(
        client,
        api_key[1],
        service_code="LAMP",
        address_id="N-01",
        description="路灯坏了，请回电 13812345678 或 wang.secret@example.org",
    )
    number = response.json()[0]["service_request_id"]
    assert Case.objects.get(number=number).description.endswith("wang.secret@example.org")
    _status, data = both_formats(client, f"requests/{number}")
    assert data[0]["description"] == "路灯坏了，请回电 138****5678 或 w**********@example.org"


def test_forgetting_contacts_blanks_what_a_posted_request_kept(client, world, api_key):
    from cases.services.privacy import open311_contacts_forget

    response = post_request(
        client,
        api_key[1],
        service_code="LAMP",
        address_id="N-01",
        email="a@example.org",
        device_id="d",
        account_id="x",
    )
    case = Case.objects.get(number=response.json()[0]["service_request_id"])
    assert open311_contacts_forget(case_ids=[case.pk]) == 1
    assert ApiRequest.objects.filter(case=case, email="", device_id="", account_id="").exists()
    assert open311_contacts_forget(case_ids=[case.pk]) == 0


# -- browser clients on other sites (CORS) --------------------------------------------------

CITIZEN_APP = "https://citizen-app.example.org"


def test_a_browser_on_another_site_may_read_the_api_without_credentials(client, world):
    response = client.get(f"{BASE}/services.json", headers={"Origin": CITIZEN_APP})
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in response


def test_a_browser_may_ask_first_whether_it_may_post_a_request(client, world):
    preflight = client.options(
        f"{BASE}/requests.json",
        headers={
            "Origin": CITIZEN_APP,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status_code == 200
    assert "POST" in preflight["Access-Control-Allow-Methods"]
    assert "content-type" in preflight["Access-Control-Allow-Headers"]


def test_an_open311_error_is_readable_by_a_browser_on_another_site(client, world):
    response = client.post(
        f"{BASE}/requests.json", {"service_code": "ENV-RUBBISH"}, headers={"Origin": CITIZEN_APP}
    )
    assert response.status_code == 403  # no api_key
    assert response["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize("path", ["/accounts/login/", "/cases/", "/healthz"])
def test_the_rest_of_the_site_sends_no_cors_header(client, db, path):
    response = client.get(path, headers={"Origin": CITIZEN_APP})
    assert "Access-Control-Allow-Origin" not in response


def test_a_browser_may_send_an_idempotency_key_and_read_the_answers_headers(client, world, api_key):
    preflight = client.options(
        f"{BASE}/requests.json",
        headers={
            "Origin": CITIZEN_APP,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,idempotency-key",
        },
    )
    assert "idempotency-key" in preflight["Access-Control-Allow-Headers"]
    fields = {"api_key": api_key[1], "service_code": "LAMP", "address_id": "N-01"}
    headers = {"Origin": CITIZEN_APP, "Idempotency-Key": "report-1"}
    client.post(f"{BASE}/requests.json", fields, headers=headers)
    again = client.post(f"{BASE}/requests.json", fields, headers=headers)
    assert again["Idempotent-Replayed"] == "true"
    exposed = {name.strip().lower() for name in again["Access-Control-Expose-Headers"].split(",")}
    assert {"location", "idempotent-replayed", "retry-after"} <= exposed
