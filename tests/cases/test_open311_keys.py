"""Open311 API keys: the create_api_key command, hashed storage, the admin, and the per-key
rate limit on the real Redis cache."""

import hashlib
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import time_machine
from django.core.cache import caches
from django.core.management import CommandError, call_command

from cases.models import ApiKey, ApiRequest, Case
from cases.services.apikeys import (
    api_key_authenticate,
    api_key_create,
    api_key_throttle,
    api_key_touch,
)
from tests.cases.open311support import (
    api_key_fixture,  # noqa: F401
    parse_xml,
    post_request,
    redis_cache_fixture,  # noqa: F401
    xml_to_python,
)
from tests.cases.test_i18n import compiled_catalogue  # noqa: F401 (a fixture)


def test_create_api_key_prints_a_key_that_is_stored_only_hashed(db):
    out, err = StringIO(), StringIO()
    call_command("create_api_key", "12345 hotline", stdout=out, stderr=err)
    raw = out.getvalue().strip()
    key = ApiKey.objects.get()
    assert key.name == "12345 hotline" and key.is_active
    assert raw.startswith(f"{key.prefix}.") and len(raw) > 40
    assert key.digest == hashlib.sha256(raw.encode()).hexdigest()
    stored = [str(value) for value in ApiKey.objects.values_list().get()]
    assert not any(raw in value or raw.split(".")[1] in value for value in stored)
    assert "will not be shown again" in err.getvalue()
    assert api_key_authenticate(raw_key=raw) == key


def test_a_new_key_takes_a_hotline_backlog_in_a_burst(db, redis_cache):
    call_command("create_api_key", "12345 hotline", stdout=StringIO(), stderr=StringIO())
    key = ApiKey.objects.get()
    with time_machine.travel(NOW, tick=False):
        throttles = [api_key_throttle(key=key) for _ in range(600)]
        assert all(throttle.allowed for throttle in throttles)
        assert not api_key_throttle(key=key).allowed  # the 601st of the minute


def test_create_api_key_takes_a_rate_limit(db):
    call_command(
        "create_api_key", "citizen app", "--rate-limit", "5", stdout=StringIO(), stderr=StringIO()
    )
    assert ApiKey.objects.get().rate_limit_per_minute == 5


def test_a_second_key_with_the_same_name_is_made_with_a_note_about_the_first(db):
    call_command("create_api_key", "12345 hotline", stdout=StringIO(), stderr=StringIO())
    err = StringIO()
    call_command("create_api_key", "12345 hotline", stdout=StringIO(), stderr=err)
    assert ApiKey.objects.count() == 2
    assert "1 other active key is named “12345 hotline”" in err.getvalue()


@pytest.mark.usefixtures("compiled_catalogue")
def test_create_api_key_speaks_the_language_of_the_site(db, settings):
    """It alone of the SPEC §5 commands printed English to a Chinese site."""
    settings.LANGUAGE_CODE = "zh-hans"  # what a command speaks
    err = StringIO()
    call_command("create_api_key", "12345 热线", stdout=StringIO(), stderr=err)
    assert "已为“12345 热线”创建 API 密钥" in err.getvalue()
    with pytest.raises(CommandError, match="API 密钥需要一个名称"):
        call_command("create_api_key", " ", stdout=StringIO(), stderr=StringIO())


@pytest.mark.parametrize("args", [["  "], ["app", "--rate-limit", "0"], ["x" * 101]])
def test_create_api_key_refuses_a_blank_name_or_a_zero_limit(db, args):
    with pytest.raises(CommandError):
        call_command("create_api_key", *args, stdout=StringIO(), stderr=StringIO())
    assert not ApiKey.objects.exists()


def test_each_key_is_different_and_only_its_own_secret_matches(db):
    first, first_raw = api_key_create(name="a")
    second, second_raw = api_key_create(name="b")
    assert first_raw != second_raw and first.prefix != second.prefix
    assert api_key_authenticate(raw_key=second_raw) == second
    forged = f"{first.prefix}.{second_raw.split('.', 1)[1]}"
    assert api_key_authenticate(raw_key=forged) is None


def test_admin_creates_a_key_and_shows_it_once(client, cast):
    client.force_login(cast.admin)
    response = client.post(
        "/admin/cases/apikey/add/",
        {"name": "FixMyStreet", "rate_limit_per_minute": "30"},
        follow=True,
    )
    assert response.status_code == 200
    key = ApiKey.objects.get()
    (message,) = [str(m) for m in response.context["messages"] if "new key" in str(m)]
    raw = message.split("The new key is ")[1].split(". Copy it now")[0]
    assert api_key_authenticate(raw_key=raw) == key
    assert key.rate_limit_per_minute == 30
    page = client.get(f"/admin/cases/apikey/{key.pk}/change/").content.decode()
    assert raw not in page


def test_admin_refuses_a_key_that_may_post_nothing(client, cast):
    client.force_login(cast.admin)
    response = client.post(
        "/admin/cases/apikey/add/", {"name": "FixMyStreet", "rate_limit_per_minute": "0"}
    )
    assert response.status_code == 200  # the form again, with the error
    assert response.context["adminform"].form.errors == {
        "rate_limit_per_minute": ["Ensure this value is greater than or equal to 1."]
    }
    assert not ApiKey.objects.exists()


def test_admin_revokes_keys_and_a_revoked_key_may_not_post(client, cast, api_key):
    key, raw = api_key
    client.force_login(cast.admin)
    response = client.post(
        "/admin/cases/apikey/", {"action": "revoke", "_selected_action": [key.pk]}, follow=True
    )
    assert response.status_code == 200
    assert "1 key revoked." in response.text
    key.refresh_from_db()
    assert key.revoked_at is not None
    client.logout()
    refused = post_request(client, raw, service_code="LAMP", address_id="N-01")
    assert refused.status_code == 403
    assert not Case.objects.exists()


def test_a_liaison_cannot_see_the_api_keys(client, cast, api_key):
    client.force_login(cast.liaison)
    assert client.get("/admin/cases/apikey/").status_code == 403


def test_the_request_log_names_the_key_and_is_read_only(client, cast, api_key):
    post_request(client, api_key[1], service_code="LAMP", address_id="N-01")
    logged = ApiRequest.objects.get()
    client.force_login(cast.admin)
    page = client.get("/admin/cases/apirequest/")
    assert page.status_code == 200 and logged.case.number in page.content.decode()
    assert client.get("/admin/cases/apirequest/add/").status_code == 403


# --- rate limiting ----------------------------------------------------------------------

NOW = datetime(2026, 3, 10, 2, 0, 10, tzinfo=UTC)


def test_a_key_posting_too_fast_gets_429_with_retry_after(client, world, redis_cache):
    key, raw = api_key_create(name="hotline", rate_limit_per_minute=3)
    with time_machine.travel(NOW, tick=False) as clock:
        statuses = [
            post_request(client, raw, service_code="LAMP", address_id="N-01").status_code
            for _ in range(3)
        ]
        assert statuses == [200, 200, 200]
        refused = post_request(client, raw, service_code="LAMP", address_id="N-01")
        assert refused.status_code == 429
        assert refused["Retry-After"] == "50"
        (error,) = refused.json()
        assert error["code"] == 429 and "3 per minute" in error["description"]
        as_xml = post_request(client, raw, fmt="xml", service_code="LAMP", address_id="N-01")
        assert as_xml.status_code == 429
        assert xml_to_python(parse_xml(as_xml))[0]["code"] == "429"
        assert Case.objects.count() == 3
        clock.move_to(NOW + timedelta(seconds=60))
        again = post_request(client, raw, service_code="LAMP", address_id="N-01")
        assert again.status_code == 200


def test_the_limit_is_per_key(client, world, redis_cache):
    _busy, busy_raw = api_key_create(name="busy", rate_limit_per_minute=1)
    _quiet, quiet_raw = api_key_create(name="quiet", rate_limit_per_minute=1)
    with time_machine.travel(NOW, tick=False):
        assert (
            post_request(client, busy_raw, service_code="LAMP", address_id="N-01").status_code
            == 200
        )
        assert (
            post_request(client, busy_raw, service_code="LAMP", address_id="N-01").status_code
            == 429
        )
        assert (
            post_request(client, quiet_raw, service_code="LAMP", address_id="N-01").status_code
            == 200
        )


def test_the_counter_is_shared_by_every_process_through_redis(world, redis_cache):
    key, _raw = api_key_create(name="hotline", rate_limit_per_minute=2)
    # A second connection stands for another web process on the same Redis.
    other_process = caches.create_connection("default")
    with time_machine.travel(NOW, tick=False):
        assert api_key_throttle(key=key).allowed
        other_process.incr(f"open311:rate:{key.pk}:{int(NOW.timestamp() // 60)}")
        third = api_key_throttle(key=key)
    assert not third.allowed and third.remaining == 0


def test_reading_needs_no_key_and_is_not_throttled(client, world, redis_cache):
    with time_machine.travel(NOW, tick=False):
        statuses = {client.get("/open311/v2/requests.json").status_code for _ in range(5)}
    assert statuses == {200}


def test_an_administrator_without_superuser_rights_manages_keys(client, world, api_key):
    from tests.conftest import make_user

    administrator = make_user("keeper", "admin")
    administrator.is_superuser = False
    administrator.save(update_fields=["is_superuser"])
    client.force_login(administrator)
    assert client.get("/admin/cases/apikey/").status_code == 200
    assert client.get("/admin/cases/apirequest/").status_code == 200
    client.post("/admin/cases/apikey/", {"action": "revoke", "_selected_action": [api_key[0].pk]})
    api_key[0].refresh_from_db()
    assert api_key[0].revoked_at is not None


def test_the_counter_lives_in_redis_and_expires(world, redis_cache, settings):
    key, _raw = api_key_create(name="hotline")
    with time_machine.travel(NOW, tick=False):
        api_key_throttle(key=key)
    client = redis_cache._cache.get_client()
    prefix = settings.CACHES["default"]["KEY_PREFIX"]
    (stored,) = client.scan_iter(match=f"{prefix}:*")
    assert stored.decode().endswith(f"open311:rate:{key.pk}:{int(NOW.timestamp() // 60)}")
    assert 0 < client.ttl(stored) <= 120


def test_last_used_is_written_at_most_once_a_minute(db, api_key):
    key = api_key[0]
    first = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
    api_key_touch(key=key, now=first)
    api_key_touch(key=key, now=first + timedelta(seconds=59))
    key.refresh_from_db()
    assert key.last_used_at == first  # a busy client does not write on every request

    api_key_touch(key=key, now=first + timedelta(minutes=1))
    key.refresh_from_db()
    assert key.last_used_at == first + timedelta(minutes=1)


def test_revoking_several_keys_says_how_many_in_the_plural(client, cast):
    keys = [api_key_create(name=name)[0] for name in ("hotline", "app")]
    client.force_login(cast.admin)
    response = client.post(
        "/admin/cases/apikey/",
        {"action": "revoke", "_selected_action": [key.pk for key in keys]},
        follow=True,
    )
    assert "2 keys revoked." in response.text
