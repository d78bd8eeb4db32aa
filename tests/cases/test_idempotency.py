"""Reporting never depends on the broker, and a submission sent twice creates one case
(issue 8.1): the web form's hidden idempotency key and the Open311 `Idempotency-Key`."""

import re
import threading
import time
import uuid

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from cases.models import Case, IdempotencyKey
from tests.brokers import HungBroker, celery_broker
from tests.cases.open311support import api_key_fixture  # noqa: F401  (fixture)
from tests.cases.test_photos import held_ids, image_file
from tests.conftest import correct_as_shown
from tests.processes import free_port

OPEN311 = "/open311/v2/requests.json"


def report_form(world, key=None, **extra):
    data = {
        "category": world.rubbish.pk,
        "cell": world.n1.pk,
        "description": "路边堆放垃圾",
        "urgency": "normal",
        "confirm_new": "on",
        **extra,
    }
    if key is not None:
        data["idempotency_key"] = key
    return data


def form_key(client) -> str:
    page = client.get(reverse("cases:new")).content.decode()
    return re.search(r'name="idempotency_key" value="([0-9a-f-]{36})"', page).group(1)


@pytest.mark.django_db
def test_the_report_form_carries_a_fresh_key_each_time_it_is_shown(client, cast):
    client.force_login(cast.caseworker)
    assert form_key(client) != form_key(client)


@pytest.mark.django_db
def test_a_form_sent_twice_reports_one_case(client, cast, world):
    client.force_login(cast.caseworker)
    key = form_key(client)
    first = client.post(reverse("cases:new"), report_form(world, key))
    second = client.post(reverse("cases:new"), report_form(world, key))
    case = Case.objects.get()
    assert first["Location"] == second["Location"] == reverse("cases:detail", args=[case.number])
    # Without confirm_new the first case would now be offered as a duplicate; still one.
    third = client.post(reverse("cases:new"), report_form(world, key, confirm_new=""))
    assert third["Location"] == first["Location"]
    assert Case.objects.count() == 1
    # A new form is a new report.
    client.post(reverse("cases:new"), report_form(world, form_key(client)))
    assert Case.objects.count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize("confirmed", ["on", ""])
def test_a_form_changed_after_it_was_sent_comes_back_to_be_sent_as_a_new_case(
    client, cast, world, confirmed
):
    """Back to the sent form, another problem typed in, Send: the first case was shown as
    "already sent", and the second problem was lost without a word."""
    client.force_login(cast.caseworker)
    key = form_key(client)
    client.post(reverse("cases:new"), report_form(world, key))
    first = Case.objects.get()
    edited = report_form(world, key, description="路灯不亮", confirm_new=confirmed)
    response = client.post(reverse("cases:new"), edited)
    assert response.status_code == 200 and Case.objects.count() == 1
    page = response.content.decode()
    assert f"This form was already sent: it reported case {first.number}." in page
    assert "路灯不亮" in page  # what was typed, shown again
    fresh = re.search(r'name="idempotency_key" value="([0-9a-f-]{36})"', page).group(1)
    assert fresh != key
    sent = client.post(
        reverse("cases:new"), {**edited, "idempotency_key": fresh, "confirm_new": "on"}
    )
    second = Case.objects.exclude(pk=first.pk).get()
    assert sent["Location"] == reverse("cases:detail", args=[second.number])
    assert second.description == "路灯不亮"


@pytest.mark.django_db
def test_a_form_sent_again_as_it_was_still_goes_to_its_case_without_asking(client, cast, world):
    client.force_login(cast.caseworker)
    key = form_key(client)
    # A point picked on the map rather than a cell, padded words: read back from the
    # database, each compares equal to what the form sends again.
    data = report_form(world, key, cell="", lat="30.005", lng="120.005", urgency="urgent")
    data.update(address=" 人民路 1 号 ", description="路边堆放垃圾\r\n（两处） ")
    client.post(reverse("cases:new"), data)
    again = client.post(reverse("cases:new"), data, follow=True)
    case = Case.objects.get()
    assert again.redirect_chain == [(reverse("cases:detail", args=[case.number]), 302)]
    assert f"This form was already sent: case {case.number}." in again.content.decode()


@pytest.mark.django_db
def test_a_form_sent_again_as_it_was_goes_to_its_case_after_a_dispatcher_corrected_it(
    client, cast, world
):
    """Compared with the case as it is now, the form sent again unchanged read as edited
    once a dispatcher had corrected the category: "What you changed since was not saved",
    and a fresh key to report the same problem twice."""
    client.force_login(cast.caseworker)
    key = form_key(client)
    data = report_form(world, key)
    client.post(reverse("cases:new"), data)
    case = Case.objects.get()
    correct_as_shown(case, actor=cast.dispatcher, category=world.lamp, cell=world.n2)
    again = client.post(reverse("cases:new"), data, follow=True)
    assert again.redirect_chain == [(reverse("cases:detail", args=[case.number]), 302)]
    assert f"This form was already sent: case {case.number}." in again.content.decode()
    assert Case.objects.count() == 1


@pytest.mark.django_db
def test_a_key_an_altered_page_spoilt_does_not_stop_the_report(client, cast, world):
    """Refused, it was shown again as it came, and the form could never be sent."""
    client.force_login(cast.caseworker)
    response = client.post(reverse("cases:new"), report_form(world, "not-a-uuid"))
    case = Case.objects.get()
    assert response["Location"] == reverse("cases:detail", args=[case.number])


@pytest.mark.django_db
def test_another_users_key_does_not_reveal_their_case(client, cast, world):
    client.force_login(cast.caseworker)
    key = form_key(client)
    client.post(reverse("cases:new"), report_form(world, key))
    client.force_login(cast.dispatcher)
    response = client.post(reverse("cases:new"), report_form(world, key))
    assert Case.objects.count() == 2
    assert response["Location"] != reverse("cases:detail", args=[Case.objects.last().number])


@pytest.mark.django_db(transaction=True)
def test_two_submissions_racing_with_one_key_create_one_case(cast, world):
    """Fault: a double click sends the same form twice at the same instant.
    Action: both requests run in parallel threads. Holds: one case, both see its page."""
    key = "5b0f3f5e-0c1c-4a9e-9d58-3b0d4a1c2e7f"
    barrier = threading.Barrier(2)
    locations = []

    def submit():
        client = Client()
        client.force_login(cast.caseworker)
        barrier.wait()
        locations.append(client.post(reverse("cases:new"), report_form(world, key))["Location"])
        connection.close()

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert Case.objects.count() == 1
    assert IdempotencyKey.objects.get().case == Case.objects.get()
    assert locations == [reverse("cases:detail", args=[Case.objects.get().number])] * 2


@pytest.mark.django_db
def test_an_open311_post_retried_with_its_key_creates_one_case(client, api_key, world):
    _key, raw = api_key
    fields = {
        "api_key": raw,
        "service_code": world.rubbish.code,
        "lat": "30.005",
        "long": "120.005",
        "description": "垃圾",
    }
    first = client.post(OPEN311, fields, headers={"Idempotency-Key": "retry-1"})
    second = client.post(OPEN311, fields, headers={"Idempotency-Key": "retry-1"})
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert second["Idempotent-Replayed"] == "true"
    assert Case.objects.count() == 1
    client.post(OPEN311, fields, headers={"Idempotency-Key": "retry-2"})
    client.post(OPEN311, fields)  # no key: no promise
    assert Case.objects.count() == 3


# -- the broker is down or hung: reporting does not notice ------------------------------


@pytest.fixture(params=["stopped", "hung"])
def broken_broker(request):
    if request.param == "stopped":
        with celery_broker(f"redis://127.0.0.1:{free_port()}/0"):
            yield None
        return
    hung = HungBroker()
    try:
        with celery_broker(f"redis://127.0.0.1:{hung.port}/0"):
            yield hung
    finally:
        hung.close()


@pytest.mark.django_db
def test_reporting_on_the_web_works_at_once_with_the_broker_down(
    client, cast, world, broken_broker
):
    """Fault: Redis is stopped, or accepts connections and never answers.
    Action: a caseworker reports a case. Holds: the case is saved and routed, the answer
    comes in under 2 s, and the request never even connects to the broker."""
    client.force_login(cast.caseworker)
    started = time.monotonic()
    response = client.post(reverse("cases:new"), report_form(world, form_key(client)))
    elapsed = time.monotonic() - started
    assert response.status_code == 302
    assert Case.objects.get().state == "assigned"
    assert elapsed < 2
    if broken_broker is not None:
        assert broken_broker.accepted == 0


@pytest.mark.django_db
def test_reporting_over_open311_works_at_once_with_the_broker_down(
    client, api_key, world, broken_broker
):
    _key, raw = api_key
    started = time.monotonic()
    response = client.post(
        OPEN311,
        {"api_key": raw, "service_code": world.stall.code, "lat": "30.005", "long": "120.005"},
    )
    assert response.status_code == 200
    assert time.monotonic() - started < 2
    assert Case.objects.get().state == "fallback"
    if broken_broker is not None:
        assert broken_broker.accepted == 0


@pytest.mark.django_db
def test_keys_older_than_their_days_are_purged_in_one_statement(
    world, cast, settings, django_assert_num_queries
):
    from datetime import timedelta

    from django.utils import timezone

    from cases import tasks
    from cases.services.intake import idempotency_keys_purge

    settings.IDEMPOTENCY_KEY_DAYS = 7
    client = Client()
    client.force_login(cast.caseworker)
    old_key, new_key = form_key(client), form_key(client)
    for key in (old_key, new_key):
        client.post(reverse("cases:new"), report_form(world, key))
    now = timezone.now()
    IdempotencyKey.objects.filter(key=old_key).update(created_at=now - timedelta(days=8))
    with django_assert_num_queries(1):
        assert idempotency_keys_purge(now=now) == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == [new_key]
    assert Case.objects.count() == 2  # the cases stay; only the guard against resending goes
    IdempotencyKey.objects.update(created_at=now - timedelta(days=30))
    assert tasks.purge_idempotency_keys() == 1 and not IdempotencyKey.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("confirmed", ["on", ""])
def test_a_form_sent_again_with_other_photos_comes_back_with_them_not_lost(
    client, cast, world, confirmed
):
    """Back to the sent form, a photo swapped for another, Send: the first case was shown
    as "already sent" and the new photo silently dropped."""
    client.force_login(cast.caseworker)
    key = form_key(client)
    client.post(reverse("cases:new"), report_form(world, key, photos=[image_file("a.jpg")]))
    first = Case.objects.get()
    assert first.photos.count() == 1

    response = client.post(
        reverse("cases:new"),
        report_form(world, key, confirm_new=confirmed, photos=[image_file("b.jpg")]),
    )

    assert response.status_code == 200 and Case.objects.count() == 1
    assert first.photos.count() == 1
    page = response.content.decode()
    assert f"This form was already sent: it reported case {first.number}." in page
    fresh = re.search(r'name="idempotency_key" value="([0-9a-f-]{36})"', page).group(1)
    assert fresh != key
    held = held_ids(page)  # the new photo, kept for the page, not to be attached again
    assert len(held) == 1
    sent = client.post(
        reverse("cases:new"),
        report_form(world, fresh, held_photos=held),
    )
    second = Case.objects.exclude(pk=first.pk).get()
    assert sent["Location"] == reverse("cases:detail", args=[second.number])
    assert second.photos.count() == 1


@pytest.mark.django_db
def test_a_form_sent_again_with_the_same_photos_or_fewer_goes_to_its_case(client, cast, world):
    client.force_login(cast.caseworker)
    key = form_key(client)
    photos = [image_file("a.jpg"), image_file("b.jpg")]
    client.post(reverse("cases:new"), report_form(world, key, photos=photos))
    case = Case.objects.get()
    for again in ([image_file("a.jpg"), image_file("b.jpg")], [image_file("b.jpg")], []):
        response = client.post(reverse("cases:new"), report_form(world, key, photos=again))
        assert response["Location"] == reverse("cases:detail", args=[case.number])
    assert Case.objects.count() == 1 and case.photos.count() == 2


@pytest.mark.django_db
def test_a_form_sent_again_after_the_duplicate_screen_with_a_photo_added_comes_back(
    client, cast, world, report
):
    """The first sending took the held photos; the page sent again carries their ids, gone,
    and a photo added after going Back: it was answered with the first case, the photo lost."""
    client.force_login(cast.caseworker)
    report()
    stopped = client.post(
        reverse("cases:new"), report_form(world, confirm_new="", photos=[image_file("a.jpg")])
    )
    held = held_ids(stopped.content.decode())
    key = str(uuid.uuid4())
    client.post(reverse("cases:new"), report_form(world, key, held_photos=held))
    first = Case.objects.latest("pk")
    assert first.photos.count() == 1

    response = client.post(
        reverse("cases:new"),
        report_form(world, key, held_photos=held, photos=[image_file("b.jpg")]),
    )

    assert response.status_code == 200 and Case.objects.count() == 2
    page = response.content.decode()
    assert f"This form was already sent: it reported case {first.number}." in page
    assert "photos kept for this report are gone" not in page
    assert len(held_ids(page)) == 1  # the added photo, held now
    assert first.photos.count() == 1
