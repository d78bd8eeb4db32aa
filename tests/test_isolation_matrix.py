"""The isolation matrix (issue 8.5): for every URL of the app, the admin and the API, and
every role, nobody reads or acts on a case outside their township or department — not by
the case's own URL, not by forged ids in a POST, not through lists, exports or the admin's
autocomplete, not by a photo URL, a history page, or a signed link made for another
purpose.

The URL list comes from the resolver; `test_every_url_pattern_is_classified` fails when a
new pattern appears that this file does not place, so the matrix cannot silently miss it.
Who may see what is written out here by hand (OWN), not asked of the code under test."""

import io
from decimal import Decimal

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core import signing
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from PIL import Image

from cases.admin.buttons import BUTTONS
from cases.models import Case, CaseEvent, CaseNote, CasePhoto, Escalation, PersonalDataAccess
from cases.services import workflow
from cases.services.acknowledgement import ACK_SALT
from cases.services.escalation import escalation_sweep
from cases.services.extensions import DECISION_SALT, extension_request
from cases.services.photos import case_add_photos
from cases.services.transitions import USER_TRANSITIONS
from departments.invitations import RESET_SALT
from departments.invitations import SALT as INVITATION_SALT
from departments.models import User
from tests.conftest import make_user

# -- the classification of every URL pattern --------------------------------------------

# Take a case (by number or id) or an object that belongs to one: probed with other
# townships' and departments' cases below.
CASE_BEARING = {
    "cases/<case_number:number>/",
    "cases/<case_number:number>/notes/",
    "cases/<case_number:number>/photos/",
    "cases/<case_number:number>/photos/<int:photo_id>/",
    "cases/<case_number:number>/correct/",
    "cases/<case_number:number>/report-for-duty/",
    "cases/<case_number:number>/<str:transition>/",
    "admin/cases/case/<path:object_id>/act/<slug:name>/",
    "admin/cases/case/<path:object_id>/history/",
    "admin/cases/case/<path:object_id>/delete/",
    "admin/cases/case/<path:object_id>/change/",
    "admin/cases/case/<path:object_id>/",
    "admin/cases/caseevent/<path:object_id>/history/",
    "admin/cases/caseevent/<path:object_id>/delete/",
    "admin/cases/caseevent/<path:object_id>/change/",
    "admin/cases/caseevent/<path:object_id>/",
    "admin/cases/extensionrequest/<path:object_id>/history/",
    "admin/cases/extensionrequest/<path:object_id>/delete/",
    "admin/cases/extensionrequest/<path:object_id>/change/",
    "admin/cases/extensionrequest/<path:object_id>/",
    "admin/r/<path:content_type_id>/<path:object_id>/",
}
# List many cases: probed for other townships' and departments' case numbers.
CASE_LISTS = {
    "cases/",
    "cases/fallback/",
    "cases/export.csv",
    "cases/export.xlsx",
    "dashboard/",
    "admin/cases/case/",
    "admin/cases/case/supervision/",
    "admin/cases/case/flywheel/",
    "admin/cases/caseevent/",
    "admin/cases/extensionrequest/",
    "admin/autocomplete/",
}
# Signed links: probed with tokens signed for another purpose.
SIGNED_LINKS = {
    "escalations/ack/<str:token>/",
    "extensions/decide/<str:token>/",
    "accounts/invite/<str:token>/",
    "accounts/password/reset/<str:token>/",
}
# Open311 GeoReport v2 is public by its specification (GET needs no key): it shows
# every case, never a reporter's contact — checked below.
PUBLIC_API_CASES = {
    r"open311/v2/^requests\.(?P<fmt>json|xml)$",
    r"open311/v2/^requests/(?P<service_request_id>[^/]+?)\.(?P<fmt>json|xml)$",
    r"open311/v2/^tokens/(?P<token>[^/]+?)\.(?P<fmt>json|xml)$",
}
# Carry no case: sign-in, reference data, API keys, health, static API documents.
NO_CASE = {
    "",
    "accounts/login/",
    "accounts/logout/",
    "accounts/password/",
    "accounts/password/forgot/",
    "i18n/setlang/",
    "healthz",
    "cases/new/",
    r"open311/v2/^discovery\.(?P<fmt>json|xml)$",
    r"open311/v2/^services\.(?P<fmt>json|xml)$",
    r"open311/v2/^services/(?P<service_code>[^/]+?)\.(?P<fmt>json|xml)$",
    r"open311/v2/^openapi\.json$",
    r"open311/v2/^(?P<path>.*)$",
    "admin/",
    "admin/login/",
    "admin/logout/",
    "admin/password_change/",
    "admin/password_change/done/",
    "admin/jsi18n/",
    "admin/cases/case/add/",
    "admin/cases/caseevent/add/",
    "admin/cases/extensionrequest/add/",
    r"admin/^(?P<app_label>auth|axes|departments|cases)/$",
    "admin/(?P<url>.*)$",
}
# Admin pages of models that hold no case (reference data, users, API keys, sign-in
# throttling): only administrators reach them at all.
ADMIN_NO_CASE_PREFIXES = (
    "admin/auth/",
    "admin/axes/",
    "admin/departments/",
    "admin/cases/apikey/",
    "admin/cases/apirequest/",
)
# Admin pages about every case that only administrators (who see every case) reach: the
# email outbox, the escalations and the sweep runs. Every other role is refused them
# (tests/cases/test_admin_outbox.py) and finds no case number on them (below).
ADMIN_ONLY_PREFIXES = (
    "admin/cases/outboxmessage/",
    "admin/cases/escalation/",
    "admin/cases/sweeprun/",
)


def all_routes() -> list[str]:
    def walk(resolver, prefix=""):
        for pattern in resolver.url_patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                yield from walk(pattern, route)
            elif isinstance(pattern, URLPattern):
                yield route

    return list(walk(get_resolver()))


def test_every_url_pattern_is_classified():
    classified = CASE_BEARING | CASE_LISTS | SIGNED_LINKS | PUBLIC_API_CASES | NO_CASE
    unknown = [
        route
        for route in all_routes()
        if route not in classified
        and not route.startswith(ADMIN_NO_CASE_PREFIXES + ADMIN_ONLY_PREFIXES)
    ]
    assert unknown == [], "classify these in tests/test_isolation_matrix.py"
    stale = classified - set(all_routes())
    assert stale == set(), "these patterns no longer exist"


# -- the world: cases in both townships and three departments ---------------------------


def png() -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, "PNG")
    return SimpleUploadedFile("p.png", buffer.getvalue(), content_type="image/png")


@pytest.fixture
def cases(report, cast, world):
    """north_cg: north, led by CG. north_sj: north, dispatched to SJ. south_zj: south,
    dispatched to ZJ. Each has a photo, a note-free history and reporter details."""
    contact = {"reporter_name": "王小明", "reporter_phone": "13812345678"}
    north_cg = report(**contact)
    north_sj = report(category=world.stall, **contact)
    workflow.case_dispatch(case=north_sj, actor=cast.dispatcher, lead=world.market)
    south_zj = report(
        reporter=cast.south_caseworker, cell=world.s1, category=world.stall, **contact
    )
    workflow.case_dispatch(case=south_zj, actor=cast.south_dispatcher, lead=world.housing)
    housing_liaison = make_user("zj_liaison", User.Role.LIAISON, department=world.housing)
    leads = {north_cg: cast.liaison, north_sj: cast.other_liaison, south_zj: housing_liaison}
    for case, liaison in leads.items():
        case_add_photos(case=case, uploaded_by=None, uploads=[png()])
        extension_request(case=case, actor=liaison, reason="需要协调", extra_days=Decimal("1"))
        case.refresh_from_db()
    return {"north_cg": north_cg, "north_sj": north_sj, "south_zj": south_zj}


# Written out by hand: the cases each member of the cast may see.
OWN = {
    "caseworker": {"north_cg", "north_sj"},
    "dispatcher": {"north_cg", "north_sj"},
    "supervisor": {"north_cg", "north_sj"},
    "south_caseworker": {"south_zj"},
    "south_dispatcher": {"south_zj"},
    "liaison": {"north_cg"},
    "other_liaison": {"north_sj"},
    "district_supervisor": {"north_cg", "north_sj", "south_zj"},
    "admin": {"north_cg", "north_sj", "south_zj"},
    "anonymous": set(),
}
ROLES = sorted(OWN)


def client_for(cast, role) -> Client:
    client = Client()
    if role != "anonymous":
        client.force_login(getattr(cast, role))
    return client


def fingerprint() -> tuple:
    """Everything a refused request must leave as it was."""
    return (
        list(Case.objects.order_by("pk").values_list("pk", "version", "state")),
        CaseEvent.objects.count(),
        CaseNote.objects.count(),
        CasePhoto.objects.count(),
        PersonalDataAccess.objects.count(),
    )


def case_requests(case: Case, own: Case | None) -> list[tuple[str, str, dict]]:
    """(method, url, data) for every case-bearing URL, aimed at `case`, plus forged mixes
    of the user's own case number with `case`'s objects."""
    number, pk = case.number, case.pk
    photo = case.photos.first()
    event = case.events.first()
    extension = case.extension_requests.get()
    content_type = ContentType.objects.get_for_model(Case).pk
    r = []
    r.append(("GET", reverse("cases:detail", args=[number]), {}))
    r.append(("POST", reverse("cases:note_add", args=[number]), {"text": "x"}))
    r.append(("POST", reverse("cases:photos_add", args=[number]), {"photos": png()}))
    r.append(("GET", reverse("cases:photo", args=[number, photo.pk]), {}))
    r.append(("POST", reverse("cases:correct", args=[number]), {"category": ""}))
    r.append(("POST", reverse("cases:report_for_duty", args=[number]), {}))
    for name in USER_TRANSITIONS:
        r.append(
            (
                "POST",
                reverse("cases:transition", args=[number, name]),
                {"expected_version": case.version, "reason": "x", "note": "x", "lead": 1},
            )
        )
    for name in BUTTONS:
        r.append(("POST", reverse("admin:cases_case_act", args=[pk, name]), {"version": 1}))
    for view in ("change", "history", "delete"):
        r.append(("GET", reverse(f"admin:cases_case_{view}", args=[pk]), {}))
        r.append(("POST", reverse(f"admin:cases_case_{view}", args=[pk]), {"post": "yes"}))
        r.append(("GET", reverse(f"admin:cases_caseevent_{view}", args=[event.pk]), {}))
        r.append(("GET", reverse(f"admin:cases_extensionrequest_{view}", args=[extension.pk]), {}))
    r.append(("GET", f"/admin/cases/case/{pk}/", {}))
    r.append(("GET", f"/admin/cases/caseevent/{event.pk}/", {}))
    r.append(("GET", f"/admin/cases/extensionrequest/{extension.pk}/", {}))
    r.append(("GET", reverse("admin:view_on_site", args=[content_type, pk]), {}))
    if own is not None:
        # Forged: my case's number with the other case's photo; my case cancelled as a
        # duplicate of theirs.
        r.append(("GET", reverse("cases:photo", args=[own.number, photo.pk]), {}))
    return r


def refused(response) -> bool:
    if response.status_code in (403, 404, 405):
        return True
    if response.status_code == 302:
        target = response["Location"]
        return "/login/" in target
    return False


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_nobody_reads_or_acts_on_a_case_outside_their_scope(role, cast, cases):
    client = client_for(cast, role)
    own = next((cases[name] for name in sorted(OWN[role])), None)
    foreign = [case for name, case in cases.items() if name not in OWN[role]]
    before = fingerprint()
    for case in foreign:
        for method, url, data in case_requests(case, own):
            response = client.get(url) if method == "GET" else client.post(url, data)
            if response.status_code == 302 and response["Location"].split("?")[0].endswith(
                "/change/"
            ):
                # The admin's bare object URL only redirects to the change page.
                response = client.get(response["Location"])
            assert refused(response), f"{role}: {method} {url} answered {response.status_code}"
            body = b"" if response.streaming else response.content
            assert b"13812345678" not in body
    assert fingerprint() == before, f"{role} changed a case outside their scope"


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_lists_exports_and_autocomplete_show_no_case_outside_the_scope(role, cast, cases):
    client = client_for(cast, role)
    foreign = [case.number for name, case in cases.items() if name not in OWN[role]]
    foreign_links = [
        reverse("admin:cases_case_change", args=[case.pk]).encode()
        for name, case in cases.items()
        if name not in OWN[role]
    ]
    own = [cases[name].number for name in OWN[role]]
    urls = [
        "/cases/",
        "/cases/?state=assigned&state=fallback",
        "/cases/fallback/",
        "/cases/export.csv",
        "/cases/export.xlsx",
        "/dashboard/",
        "/admin/cases/case/",
        "/admin/cases/case/supervision/",
        "/admin/cases/case/flywheel/",
        "/admin/cases/caseevent/",
        "/admin/cases/extensionrequest/",
        "/admin/cases/outboxmessage/",
        "/admin/cases/escalation/",
        *[f"/admin/cases/case/?q={n}" for n in foreign],
        *[f"/admin/cases/caseevent/?q={n}" for n in foreign],
        *[
            f"/admin/autocomplete/?app_label=cases&model_name=case&field_name=duplicate_of&term={n}"
            for n in foreign
        ],
    ]
    for url in urls:
        response = client.get(url)
        body = b"".join(response.streaming_content) if response.streaming else response.content
        if url.endswith(".xlsx") and response.status_code == 200:
            from openpyxl import load_workbook

            sheet = load_workbook(io.BytesIO(body)).active
            body = " ".join(str(c) for row in sheet.iter_rows(values_only=True) for c in row)
            body = body.encode()
        searched = "q=" in url or "term=" in url
        for number in foreign:
            # A search page may echo the term it was given; it must find nothing.
            if searched:
                assert b'"results": [{' not in body and b'"results":[{' not in body
                assert not any(link in body for link in foreign_links), f"{role}: {url}"
            else:
                assert number.encode() not in body, f"{role}: {url} shows {number}"
    if role in ("caseworker", "liaison", "admin"):
        listing = client.get("/cases/").content
        assert all(number.encode() in listing for number in own), "the list works at all"


@pytest.mark.django_db
def test_photo_files_are_never_served_from_a_public_url(client, cast, cases, settings):
    photo = cases["north_cg"].photos.first()
    client.force_login(cast.caseworker)
    assert client.get(f"/{settings.MEDIA_URL}{photo.image.name}").status_code == 404
    served = client.get(reverse("cases:photo", args=[cases["north_cg"].number, photo.pk]))
    assert served.status_code == 200
    assert served["X-Content-Type-Options"] == "nosniff"


@pytest.mark.django_db
def test_the_public_api_never_shows_a_reporters_contact(client, cases):
    for case in cases.values():
        for fmt in ("json", "xml"):
            body = client.get(f"/open311/v2/requests/{case.number}.{fmt}?extensions=true")
            assert body.status_code == 200
            assert b"13812345678" not in body.content and "王小明".encode() not in body.content
    listing = client.get("/open311/v2/requests.json?extensions=true").content
    assert b"13812345678" not in listing


@pytest.mark.django_db
def test_a_signed_link_made_for_one_purpose_opens_nothing_elsewhere(client, cast, cases):
    from datetime import timedelta

    import time_machine
    from django.utils import timezone

    with time_machine.travel(timezone.now() + timedelta(days=7)):
        escalation_sweep()
    escalation = Escalation.objects.filter(level__gte=1).first()
    assert escalation is not None
    address = "cg-boss@example.org"
    payloads = {
        "ack": {"e": escalation.pk, "a": address},
        "decision": {"x": escalation.pk, "a": address},
        "invitation": {"u": cast.caseworker.pk, "f": "0" * 32},
    }
    salts = {
        "ack": ACK_SALT,
        "decision": DECISION_SALT,
        "invitation": INVITATION_SALT,
        "reset": RESET_SALT,
    }
    urls = {
        "ack": "escalations:acknowledge",
        "decision": "extensions:decide",
        "invitation": "invitations:accept",
        "reset": "password_reset_confirm",
    }
    password = cast.caseworker.password
    before = fingerprint()
    for purpose, url_name in urls.items():
        for other, salt in salts.items():
            if other == purpose:
                continue
            for payload in payloads.values():
                token = signing.dumps(payload, salt=salt, compress=True)
                url = reverse(url_name, args=[token])
                page = client.get(url)
                assert page.status_code in (200, 400, 403, 404, 410)
                assert escalation.case.number.encode() not in page.content, f"{url} leaks"
                client.post(
                    url,
                    {
                        "new_password1": "Xx-9876543210",
                        "new_password2": "Xx-9876543210",
                        "decision": "approve",
                    },
                )
    escalation.refresh_from_db()
    assert escalation.acknowledged_at is None
    cast.caseworker.refresh_from_db()
    assert cast.caseworker.password == password
    assert fingerprint() == before


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["dispatcher", "supervisor"])
def test_a_forged_duplicate_of_another_townships_case_is_refused(role, cast, cases):
    # The dispatcher may cancel their own case, but not point it at a case they cannot see.
    client = client_for(cast, role)
    own, foreign = cases["north_cg"], cases["south_zj"]
    response = client.post(
        reverse("cases:transition", args=[own.number, "cancel"]),
        {"expected_version": own.version, "reason": "重复", "duplicate_of": foreign.number},
    )
    own.refresh_from_db()
    assert own.state != "cancelled" and own.duplicate_of_id is None
    assert response.status_code in (200, 302, 400)
    assert not Case.objects.filter(duplicate_of=foreign).exists()
