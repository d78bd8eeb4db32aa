"""A form posted to one of a case's POST-only addresses once the session has ended is sent
to sign in with that address as `next`; after signing in, the user lands on the case's page,
not on a blank 405, and nothing is done by the way."""

import pytest
from django.urls import URLPattern, reverse

from cases import urls as case_urls
from cases.models import CaseEvent

PASSWORD = "pass-for-tests-1"


def case_addresses(number: str) -> dict[str, str]:
    """Every address of cases/urls.py under one case, by its URL name (a transition: accept;
    a photo: one that does not exist)."""
    values = {"number": number, "transition": "accept", "photo_id": 999999}
    addresses = {}
    for pattern in case_urls.urlpatterns:
        assert isinstance(pattern, URLPattern)
        if "number" in pattern.pattern.converters:
            kwargs = {name: values[name] for name in pattern.pattern.converters}
            addresses[pattern.name] = reverse(f"cases:{pattern.name}", kwargs=kwargs)
    return addresses


def sign_in(client, username: str, next_url: str):
    return client.post(
        reverse("login"), {"username": username, "password": PASSWORD, "next": next_url}
    )


def test_a_note_posted_after_the_session_ended_lands_on_the_case_page(client, cast, report):
    case = report()
    note_url = reverse("cases:note_add", kwargs={"number": case.number})
    refused = client.post(note_url, {"text": "已到现场"})  # the session has ended
    assert refused.status_code == 302
    assert refused["Location"] == f"/accounts/login/?next={note_url}"
    form = client.get(refused["Location"])
    assert form.context["next"] == f"/cases/{case.number}/"
    signed_in = sign_in(client, "liaison", note_url)
    assert signed_in.status_code == 302
    assert signed_in["Location"] == f"/cases/{case.number}/"
    assert client.get(signed_in["Location"]).status_code == 200
    assert not case.notes.exists()


POST_ONLY = ["note_add", "photos_add", "correct", "report_for_duty", "transition"]


def test_the_post_only_addresses_are_all_known(world):
    # A new address under a case that answers GET belongs in CASE_PAGES, or it too would
    # send the user to the case's page after signing in.
    assert sorted(set(case_addresses("2026-000001")) - {"detail", "photo"}) == sorted(POST_ONLY)


@pytest.mark.parametrize("name", POST_ONLY)
def test_every_post_only_address_of_a_case_leads_back_to_its_page(client, cast, report, name):
    case = report()
    events = CaseEvent.objects.filter(case=case).count()
    address = case_addresses(case.number)[name]
    refused = client.post(address, {"reason": "不归我", "text": "已到现场"})
    assert refused["Location"].startswith("/accounts/login/?next=")
    signed_in = sign_in(client, "liaison", address)
    assert signed_in["Location"] == f"/cases/{case.number}/"
    assert client.get(signed_in["Location"]).status_code == 200
    assert CaseEvent.objects.filter(case=case).count() == events  # nothing was done


@pytest.mark.parametrize(
    "next_url",
    ["/cases/?state=reported", "/dashboard/", "/cases/fallback/", "/nowhere/"],
)
def test_any_other_next_is_followed_as_before(client, cast, next_url):
    assert sign_in(client, "supervisor", next_url)["Location"] == next_url


def test_a_case_page_or_photo_as_next_is_followed_as_before(client, cast, report):
    case = report()
    addresses = case_addresses(case.number)
    for name in ("detail", "photo"):
        client.logout()
        assert sign_in(client, "caseworker", addresses[name])["Location"] == addresses[name]


def test_a_next_on_another_site_is_still_refused(client, cast, report):
    case = report()
    elsewhere = f"https://evil.example/cases/{case.number}/notes/"
    assert sign_in(client, "caseworker", elsewhere)["Location"] == reverse("cases:list")


@pytest.mark.parametrize(
    ("username", "home"),
    [
        ("liaison", "/admin/cases/case/"),
        ("admin", "/admin/"),
        ("caseworker", "/cases/"),
        ("dispatcher", "/cases/"),
        ("supervisor", "/cases/"),
    ],
)
def test_with_no_next_each_user_lands_where_their_work_is(client, cast, username, home):
    signed_in = sign_in(client, username, "")
    assert signed_in["Location"] == home
    assert client.get(home).status_code == 200


def test_an_admin_button_pressed_after_the_session_ended_lands_on_the_cases_admin_page(
    client, cast, report
):
    case = report()
    act_url = reverse("admin:cases_case_act", args=[case.pk, "accept"])
    refused = client.post(act_url)  # the session has ended
    assert refused.status_code == 302
    login_url = refused["Location"]
    assert login_url.startswith(reverse("admin:login"))
    signed_in = client.post(
        login_url, {"username": "liaison", "password": PASSWORD, "next": act_url}, follow=True
    )
    assert signed_in.status_code == 200
    assert signed_in.redirect_chain[-1][0] == reverse("admin:cases_case_change", args=[case.pk])
    assert not CaseEvent.objects.filter(case=case, action="accept").exists()
