"""Fixtures and helpers shared by the Open311 tests (tests/cases/test_open311*.py).

Import a fixture by its function name (`api_key_fixture`); tests ask for it by its
fixture name (`api_key`), so the import does not shadow the argument.
"""

import os
import uuid
import xml.etree.ElementTree as ET

import pytest

from cases.open311.formats import ITEM_TAGS
from cases.services.apikeys import api_key_create

BASE = "/open311/v2"
LIST_TAGS = set(ITEM_TAGS)


@pytest.fixture(name="api_key")
def api_key_fixture(db):
    """(ApiKey, its secret) for a hotline client."""
    return api_key_create(name="12345 hotline")


@pytest.fixture(name="redis_cache")
def redis_cache_fixture(settings):
    """The Django cache on the real Redis, with a key prefix of this xdist worker and test,
    so parallel workers never share a rate-limit counter."""
    base = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379").rstrip("/")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    prefix = f"open311-test-{worker}-{uuid.uuid4().hex}"
    settings.CACHES = {
        "default": {
            "BACKEND": "governance.cache.RedisCache",
            "LOCATION": f"{base}/2",
            "KEY_PREFIX": prefix,
        }
    }
    from django.core.cache import cache

    yield cache
    # Only this test's keys: `cache.clear()` would flush the database under the other
    # worker's running test.
    client = cache._cache.get_client(write=True)
    keys = list(client.scan_iter(match=f"{prefix}:*"))
    if keys:
        client.delete(*keys)


def xml_to_python(element: ET.Element):
    """An XML document as the JSON mapping would give it, with every scalar a string."""
    if element.tag in LIST_TAGS:
        return [xml_to_python(child) for child in element]
    children = list(element)
    if children:
        return {child.tag: xml_to_python(child) for child in children}
    return element.text or ""


def stringify(value):
    """JSON data with scalars as XML writes them, to compare with `xml_to_python`."""
    if isinstance(value, dict):
        return {key: stringify(item) for key, item in value.items()}
    if isinstance(value, list):
        return [stringify(item) for item in value]
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def parse_xml(response):
    assert response["Content-Type"] == "text/xml; charset=utf-8"
    body = response.content.decode("utf-8")
    assert body.startswith('<?xml version="1.0" encoding="utf-8"?>')
    return ET.fromstring(response.content)


def parse_json(response):
    assert response["Content-Type"] == "application/json; charset=utf-8"
    return response.json()


def post_request(client, raw_key: str | None, fmt: str = "json", **fields):
    data = {"api_key": raw_key, **fields} if raw_key is not None else dict(fields)
    return client.post(
        f"{BASE}/requests.{fmt}", data={k: v for k, v in data.items() if v is not None}
    )
