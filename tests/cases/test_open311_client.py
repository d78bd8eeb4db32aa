"""Third-party GeoReport v2 clients work against a real server here unchanged.

Reading goes through `georeport` (PyPI), a GeoReport v2 client written for other cities'
servers; it cannot post, so posting goes through a small client written from the
specification alone (form-encoded body, api_key, `requests.{format}`).
"""

import json
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

import pytest
from georeport import GeoReport

from cases.models import Case
from cases.services.apikeys import api_key_create
from tests.conftest import centre_of


class SpecClient:
    """POST Service Request as the GeoReport v2 specification describes it, nothing more."""

    def __init__(self, root: str, api_key: str):
        self.root, self.api_key = root.rstrip("/"), api_key

    def post(self, fmt: str = "xml", **fields) -> tuple[int, bytes, str]:
        body = urllib.parse.urlencode({"api_key": self.api_key, **fields}).encode("utf-8")
        request = urllib.request.Request(
            f"{self.root}/requests.{fmt}",
            data=body,
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read(), response.headers["Content-Type"]
        except urllib.error.HTTPError as error:
            return error.code, error.read(), error.headers["Content-Type"]


@pytest.fixture
def root(live_server, world):
    return f"{live_server.url}/open311/v2"


def test_a_spec_client_posts_and_georeport_reads_it_back(root, world):
    _key, raw = api_key_create(name="citizen app")
    lat, lng = centre_of(0)
    status, body, content_type = SpecClient(root, raw).post(
        fmt="xml",
        service_code="ENV-RUBBISH",
        lat=lat,
        long=lng,
        address_string="北街道 1 号",
        description="垃圾桶满了",
        email="citizen@example.org",
    )
    assert status == 200 and content_type == "text/xml; charset=utf-8"
    number = ET.fromstring(body).findtext("request/service_request_id")
    assert Case.objects.get(number=number).lead_department == world.urban

    as_json = GeoReport(root)
    services = as_json.get_service_list()
    assert [s["service_code"] for s in services] == ["ENV", "ENV-RUBBISH", "LAMP", "STALL"]
    assert as_json.get_service_definition("ENV-RUBBISH")["attributes"][0]["code"] == "urgency"
    request = as_json.get_service_request(number)
    assert request["service_request_id"] == number
    assert request["status"] == "open"
    assert request["agency_responsible"] == "城管局"
    assert (request["lat"], request["long"]) == (lat, lng)
    listed = as_json.get_service_requests(service_code="ENV-RUBBISH", status="open")
    assert [r["service_request_id"] for r in listed] == [number]
    assert as_json.get_service_requests(service_request_id=number)[0]["description"] == "垃圾桶满了"

    as_xml = GeoReport(root, output_format="xml")
    assert [s["service_code"] for s in as_xml.get_service_list()] == [
        "ENV",
        "ENV-RUBBISH",
        "LAMP",
        "STALL",
    ]
    request_xml = as_xml.get_service_request(number)
    assert request_xml["service_request_id"] == number
    assert request_xml["status"] == "open"
    assert request_xml["agency_responsible"] == "城管局"
    assert request_xml["requested_datetime"] == request["requested_datetime"]


def test_the_spec_client_sees_the_specifications_errors(root, world):
    _key, raw = api_key_create(name="citizen app")
    status, body, content_type = SpecClient(root, "not-a-key").post(
        fmt="json", service_code="LAMP", address_id="N-01"
    )
    assert status == 403 and content_type == "application/json; charset=utf-8"
    assert json.loads(body)[0]["code"] == 403
    status, body, _type = SpecClient(root, raw).post(fmt="xml", service_code="LAMP")
    assert status == 400
    assert ET.fromstring(body).findtext("error/code") == "400"
