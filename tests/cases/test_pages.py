"""The caseworker, dispatcher and supervisor pages through Django's test client: the slice
report → route → dispatch → accept → resolve → verify, and who may see and do what."""

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.formats import date_format

from cases import trail_words
from cases.forms import MAX_TEXT_LENGTH, TRANSITION_FORMS
from cases.labels import TRANSITION_HELP
from cases.models import Case, CaseEvent, State
from cases.services import extensions, workflow
from cases.services.corrections import case_correct
from cases.time_words import working_time_words
from departments.models import Responsibility
from tests.conftest import correct_as_shown


def post_transition(client, case, name, **data):
    data.setdefault("expected_version", case.version)
    return client.post(reverse("cases:transition", args=[case.number, name]), data)


def page_text(response) -> str:
    return response.content.decode()


@pytest.mark.django_db
def test_sign_in_page_signs_a_caseworker_in_and_lands_on_the_case_list(client, cast):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    assert 'name="username"' in page_text(response)
    response = client.post(
        "/accounts/login/", {"username": "caseworker", "password": "pass-for-tests-1"}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("cases:list")
    assert client.get(reverse("cases:list")).status_code == 200


@pytest.mark.parametrize(
    "url", ["/cases/", "/cases/new/", "/cases/fallback/", "/cases/2026-000001/"]
)
def test_anonymous_visitor_is_sent_to_sign_in(client, db, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_caseworker_reports_a_case_and_is_told_which_department_has_it(client, cast, world):
    client.force_login(cast.caseworker)
    response = client.post(
        "/cases/new/",
        {
            "category": world.rubbish.pk,
            "cell": world.n1.pk,
            "description": "路边堆放垃圾",
            "urgency": "normal",
        },
        follow=True,
    )
    case = Case.objects.get()
    assert response.redirect_chain[-1][0] == reverse("cases:detail", args=[case.number])
    assert case.state == State.ASSIGNED
    assert case.lead_department == world.urban
    text = page_text(response)
    assert "routing-assigned" in text
    assert world.urban.name in text
    assert "权责清单 1" in text  # the basis of the rule that routed it


def test_the_basis_shown_is_the_rule_that_routed_the_case_not_another_of_its_lead(
    client, cast, world, report
):
    from departments.models import Responsibility

    Responsibility.objects.create(
        category=world.rubbish,
        department=world.urban,
        township=world.south,
        role="lead",
        basis="南街道专项整治方案",
    )
    case = report()  # in the north: the everywhere rule on the parent category routes it
    client.force_login(cast.caseworker)
    text = page_text(client.get(reverse("cases:detail", args=[case.number])))
    assert "权责清单 1" in text and "南街道专项整治方案" not in text


def test_ambiguous_report_shows_the_fallback_reason_and_the_candidates(client, cast, world):
    client.force_login(cast.caseworker)
    response = client.post(
        "/cases/new/",
        {
            "category": world.stall.pk,
            "cell": world.n2.pk,
            "description": "占道",
            "urgency": "normal",
        },
        follow=True,
    )
    case = Case.objects.get()
    assert case.state == State.FALLBACK
    text = page_text(response)
    assert "routing-fallback" in text
    assert str(case.get_fallback_reason_display()) in text
    assert world.urban.name in text and world.market.name in text


def test_report_without_a_cell_or_a_point_is_refused_and_creates_nothing(client, cast, world):
    client.force_login(cast.caseworker)
    response = client.post("/cases/new/", {"description": "无位置", "urgency": "normal"})
    assert response.status_code == 200
    assert response.context["form"].errors["cell"]
    assert not Case.objects.exists()


def test_a_description_longer_than_open311_takes_is_refused_with_the_text_kept(client, cast, world):
    """Open311 refuses a description over 4,000 characters and reads cases back to other
    systems: the form keeps to the same limit, so every case reads back whole."""
    client.force_login(cast.caseworker)
    too_long = "路灯不亮" * 1000 + "。"  # 4,001 characters
    response = client.post(
        "/cases/new/", {"cell": world.n1.pk, "description": too_long, "urgency": "normal"}
    )
    assert response.status_code == 200
    assert response.context["form"].errors["description"] == [
        "Ensure this value has at most 4000 characters (it has 4001)."
    ]
    assert too_long in response.text and 'maxlength="4000"' in response.text
    assert not Case.objects.exists()
    client.post(
        "/cases/new/", {"cell": world.n1.pk, "description": too_long[:-1], "urgency": "normal"}
    )
    assert Case.objects.get().description == too_long[:-1]


def test_caseworker_is_not_offered_cells_of_another_township(client, cast, world):
    client.force_login(cast.caseworker)
    response = client.post(
        "/cases/new/", {"cell": world.s1.pk, "description": "越界", "urgency": "normal"}
    )
    assert response.status_code == 200
    assert "cell" in response.context["form"].errors
    assert not Case.objects.exists()


def test_liaison_may_not_report_cases(client, cast):
    client.force_login(cast.liaison)
    assert client.get("/cases/new/").status_code == 403


def test_a_refused_page_says_why_and_leads_back(client, cast):
    client.force_login(cast.liaison)

    response = client.get("/dashboard/")

    page = response.content.decode()
    assert response.status_code == 403
    assert "The dashboard is for supervisors." in page
    assert 'href="/cases/"' in page and "Sign out" in page


def test_a_page_not_found_leads_back(client, cast):
    client.force_login(cast.caseworker)

    response = client.get("/cases/2099-999999/")

    page = response.content.decode()
    assert response.status_code == 404
    assert "This page does not exist" in page and 'href="/cases/"' in page


def test_the_whole_slice_runs_through_the_pages_and_the_admin(client, cast, world):
    # A lamp case has no rule: it goes to the north township's pool.
    client.force_login(cast.caseworker)
    client.post(
        "/cases/new/",
        {
            "category": world.lamp.pk,
            "cell": world.n1.pk,
            "description": "路灯不亮",
            "urgency": "urgent",
        },
    )
    case = Case.objects.get()
    assert case.state == State.FALLBACK

    client.force_login(cast.dispatcher)
    pool = client.get("/cases/fallback/")
    assert case.number in page_text(pool)
    response = post_transition(
        client, case, "dispatch", lead=world.urban.pk, next="/cases/fallback/"
    )
    assert response["Location"] == "/cases/fallback/"
    case.refresh_from_db()
    assert case.state == State.ASSIGNED and case.lead_department == world.urban

    # The liaison works in the admin: its change page lists the case and offers the buttons.
    client.force_login(cast.liaison)
    change_page = client.get(reverse("admin:cases_case_change", args=[case.pk]))
    assert change_page.status_code == 200 and case.number in page_text(change_page)
    accept = reverse("admin:cases_case_act", args=[case.pk, "accept"])
    assert client.post(accept, {"version": case.version}).status_code == 302
    case.refresh_from_db()
    assert case.state == State.IN_PROGRESS
    resolve = reverse("admin:cases_case_act", args=[case.pk, "resolve"])
    client.post(resolve, {"version": case.version, "note": "已更换灯泡"})
    case.refresh_from_db()
    assert case.state == State.RESOLVED

    client.force_login(cast.caseworker)
    detail = client.get(reverse("cases:detail", args=[case.number]))
    assert [name for name, _label, _form in detail.context["transition_forms"]] == [
        "verify",
        "reopen",
    ]
    response = post_transition(client, case, "verify", satisfaction="5", comment="已修好")
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.state == State.CLOSED and case.satisfaction == 5
    actions = list(case.events.values_list("action", flat=True))
    assert actions == ["report", "route", "dispatch", "accept", "resolve", "verify"]
    timeline = page_text(client.get(reverse("cases:detail", args=[case.number])))
    assert "已更换灯泡" in timeline and "已修好" in timeline


def test_a_transition_the_user_may_not_fire_is_refused_and_changes_nothing(client, cast, report):
    case = report(category=None)  # unclassified → fallback
    version, events = case.version, CaseEvent.objects.count()
    client.force_login(cast.caseworker)
    response = post_transition(client, case, "dispatch", lead=cast.liaison.department_id)
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.state == State.FALLBACK and case.version == version
    assert CaseEvent.objects.count() == events
    messages = [str(m) for m in response.wsgi_request._messages]
    assert messages and "dispatch" in messages[0]


def test_a_reason_longer_than_the_admin_takes_is_refused_on_the_case_page_too(client, cast, report):
    """The pool page shows each returned case's reason whole to the township's dispatchers:
    the case page took a reason of megabytes while the admin's return stopped at 2,000
    characters."""
    case = report()
    client.force_login(cast.liaison)
    too_long = "职责不清" * 500 + "。"  # 2,001 characters
    response = post_transition(client, case, "return", reason=too_long)
    case.refresh_from_db()
    assert case.state == State.ASSIGNED and not case.events.filter(action="return").exists()
    [refusal] = [str(m) for m in get_messages(response.wsgi_request)]
    assert "Ensure this value has at most 2000 characters (it has 2001)." in refusal
    post_transition(client, case, "return", reason=too_long[:-1])
    case.refresh_from_db()
    assert case.state == State.FALLBACK
    assert case.events.get(action="return").comment == too_long[:-1]


def test_a_note_longer_than_a_description_is_refused_saying_why(client, cast, report):
    case = report()
    client.force_login(cast.caseworker)
    too_long = "电话未接" * 1000 + "。"  # 4,001 characters
    response = client.post(reverse("cases:note_add", args=[case.number]), {"text": too_long})
    assert not case.notes.exists()
    [refusal] = [str(m) for m in get_messages(response.wsgi_request)]
    assert "at most 4000 characters (it has 4001)" in refusal
    assert "write something first" not in refusal
    client.post(reverse("cases:note_add", args=[case.number]), {"text": too_long[:-1]})
    assert case.notes.get().text == too_long[:-1]


def test_a_stale_page_is_told_the_case_changed_and_changes_nothing(client, cast, report, world):
    case = report(category=None)
    stale_version = case.version
    client.force_login(cast.dispatcher)
    first = post_transition(client, case, "dispatch", lead=world.urban.pk)
    assert first.status_code == 302
    second = post_transition(
        client, case, "dispatch", lead=world.market.pk, expected_version=stale_version
    )
    case.refresh_from_db()
    assert case.lead_department == world.urban
    assert case.events.filter(action="dispatch").count() == 1
    follow = client.get(second["Location"])
    *_dispatched, refusal = [str(m) for m in follow.context["messages"]]
    assert refusal.startswith(f"Case {case.number} changed since you opened it")


def test_the_dispatcher_who_lost_a_race_on_the_pool_is_told_who_dispatched_it_where(
    client, cast, report, world
):
    """Two dispatchers press "Dispatch" on one case at once: the one who loses was told
    "Reload it and try again", as if there were something left to try; they are told
    what the other did, and keep what they chose for the next case."""
    case, _next_one = report(category=None), report(category=None)
    seen = case.version
    workflow.case_dispatch(case=case, actor=cast.supervisor, lead=world.urban)
    client.force_login(cast.dispatcher)
    response = client.post(
        reverse("cases:transition", args=[case.number, "dispatch"]),
        {
            "expected_version": seen,
            "lead": world.market.pk,
            "comment": "市场监管牵头",
            "next": "/cases/fallback/",
        },
    )
    assert response["Location"] == "/cases/fallback/"
    pool = client.get(response["Location"])
    [refusal] = [str(m) for m in pool.context["messages"]]
    when = date_format(timezone.localtime(case.events.get(action="dispatch").at), "DATETIME_FORMAT")
    assert refusal == (
        f"Case {case.number} changed since you opened it, and nothing was done. Latest step:"
        f" dispatched (lead: {world.urban}) by {cast.supervisor} on {when}; its state is now"
        " “assigned”. “dispatch” is no longer possible."
    )
    form = pool.context["dispatch_form"]
    assert form.data["lead"] == str(world.market.pk) and form.data["comment"] == "市场监管牵头"
    case.refresh_from_db()
    assert case.lead_department == world.urban


def test_a_stale_page_whose_step_is_still_open_is_told_to_check_and_try_again(
    client, cast, report, world
):
    case = report(category=None)
    seen = case.version
    case_correct(
        case=case, actor=cast.supervisor, category=None, cell=world.n2, expected_version=seen
    )
    client.force_login(cast.dispatcher)
    response = post_transition(
        client, case, "dispatch", lead=world.market.pk, expected_version=seen
    )
    refusal = [str(m) for m in client.get(response["Location"]).context["messages"]][-1]
    assert refusal.startswith(f"Case {case.number} changed since you opened it")
    assert "Latest step: corrected category or cell" in refusal
    assert refusal.endswith(
        "its state is now “fallback pool”. Check it, then try again: what you typed is kept."
    )


def test_a_stale_page_is_told_of_the_step_not_of_the_extension_request_it_lapsed(
    client, cast, report
):
    """A resolve lapses the pending extension request in an audit row of the same moment,
    written after it: the supervisor whose suspend lost to the resolve was told "Latest
    step: extension request lapsed by system", not who resolved the case."""
    case = workflow.case_accept(case=report(), actor=cast.liaison)
    extensions.extension_request(
        case=case, actor=cast.liaison, reason="需要协调物业", extra_days=Decimal("2")
    )
    seen = Case.objects.get(pk=case.pk).version
    workflow.case_resolve(case=Case.objects.get(pk=case.pk), actor=cast.liaison, note="已清运")
    assert case.events.order_by("at", "id").last().action == "extension_lapse"
    client.force_login(cast.supervisor)
    response = post_transition(client, case, "suspend", reason="等待审批", expected_version=seen)
    refusal = [str(m) for m in client.get(response["Location"]).context["messages"]][-1]
    assert f"Latest step: resolved by {cast.liaison} on " in refusal
    assert "lapsed" not in refusal


def test_a_refused_form_comes_back_with_what_was_typed(client, cast, report):
    case = report(category=None)
    client.force_login(cast.dispatcher)

    response = post_transition(
        client, case, "cancel", reason="重复上报XYZ", duplicate_of="2026-999999"
    )

    # Back to the case page's own address (a reload there does not post again), where the
    # form comes back with what was typed, once.
    assert response["Location"] == reverse("cases:detail", args=[case.number])
    response = client.get(response["Location"])
    page = page_text(response)
    assert "There is no case 2026-999999 that you may see." in page
    assert "重复上报XYZ" in page and 'value="2026-999999"' in page
    assert "重复上报XYZ" not in page_text(client.get(reverse("cases:detail", args=[case.number])))
    case.refresh_from_db()
    assert case.state == State.FALLBACK


def test_a_whistle_summoning_only_the_lead_is_refused(client, cast, report, world):
    case = report(category=None)
    client.force_login(cast.dispatcher)
    post_transition(
        client, case, "dispatch", lead=world.urban.pk, whistle="on", assisting=[world.urban.pk]
    )
    case.refresh_from_db()
    assert case.state == State.FALLBACK and not case.assists.exists()
    page = page_text(client.get(reverse("cases:detail", args=[case.number])))
    assert f"{world.urban} leads: it cannot also assist." in page


@pytest.mark.parametrize("landing", ["", "#case-2026-000009"], ids=["page", "place on the page"])
def test_a_dispatch_refused_on_the_pool_page_comes_back_there_with_the_choice(
    client, cast, report, world, landing
):
    """`landing`: where on the page the pool's script asks to come back to; a fragment the
    browser keeps to itself when it asks for the page."""
    case = report(category=None)
    client.force_login(cast.dispatcher)

    response = post_transition(
        client,
        case,
        "dispatch",
        lead=world.urban.pk,
        whistle="on",
        comment="叫上市场监管",
        next=f"/cases/fallback/?page=1{landing}",
    )

    # Refused: back at the top, where the message and the kept choice are, not at the
    # next case, where the page would have gone had the dispatch been done.
    assert response["Location"] == "/cases/fallback/?page=1"
    pool = client.get(response["Location"])
    form = pool.context["dispatch_form"]
    assert form["lead"].value() == str(world.urban.pk) and form["whistle"].value() is True
    assert form["comment"].value() == "叫上市场监管"
    assert "Choose the departments the whistle summons." in page_text(pool)
    assert not client.get("/cases/fallback/?page=1").context["dispatch_form"].is_bound
    case.refresh_from_db()
    assert case.state == State.FALLBACK


def test_a_transition_without_expected_version_is_refused(client, cast, report, world):
    case = report(category=None)
    client.force_login(cast.dispatcher)
    client.post(
        reverse("cases:transition", args=[case.number, "dispatch"]), {"lead": world.urban.pk}
    )
    case.refresh_from_db()
    assert case.state == State.FALLBACK


def test_resolve_without_a_note_is_refused(client, cast, report):
    case = report()
    workflow.case_accept(case=case, actor=cast.liaison)
    client.force_login(cast.liaison)
    response = post_transition(client, case, "resolve", note="  ")
    case.refresh_from_db()
    assert case.state == State.IN_PROGRESS
    refusal = [str(message) for message in get_messages(response.wsgi_request)]
    assert refusal == [f"Case {case.number}: “resolve” was not done: Note: This field is required."]


def test_a_step_refused_whatever_was_typed_says_so_not_that_a_field_is_missing(
    client, cast, report
):
    """A page left open while the case moved on, or a step that is not the user's: filling
    in the note would not have helped, and the form is not offered again to fill in."""
    case = report()
    workflow.case_accept(case=case, actor=cast.liaison)
    workflow.case_resolve(case=case, actor=cast.liaison, note="已清理")
    client.force_login(cast.liaison)
    response = post_transition(client, case, "resolve", note="  ")
    said = [str(message) for message in get_messages(response.wsgi_request)]
    assert said == [
        f"Case {case.number}: A case in the state “resolved” cannot be given “resolve”."
    ]
    page = client.get(reverse("cases:detail", args=[case.number]))
    assert "resolve" not in [name for name, _label, _form in page.context["transition_forms"]]
    client.force_login(cast.caseworker)
    response = post_transition(client, case, "reopen", reason="")
    assert [str(m) for m in get_messages(response.wsgi_request)][-1].endswith(
        "“reopen” was not done: Reason: This field is required."
    )
    client.force_login(cast.dispatcher)
    response = post_transition(client, case, "reopen", reason="")
    assert [str(m) for m in get_messages(response.wsgi_request)][-1] == (
        f"Case {case.number}: You may not reopen this case."
    )


def test_transitions_are_post_only_and_unknown_ones_are_not_found(client, cast, report):
    case = report()
    client.force_login(cast.liaison)
    assert client.get(reverse("cases:transition", args=[case.number, "accept"])).status_code == 405
    assert post_transition(client, case, "route").status_code == 404
    assert post_transition(client, case, "explode").status_code == 404


def test_cancelling_as_a_duplicate_links_the_original(client, cast, report):
    original, duplicate = report(), report(description="同一堆垃圾")
    client.force_login(cast.dispatcher)
    post_transition(client, duplicate, "cancel", reason="重复上报", duplicate_of=original.number)
    duplicate.refresh_from_db()
    assert duplicate.state == State.CANCELLED and duplicate.duplicate_of == original
    text = page_text(client.get(reverse("cases:detail", args=[duplicate.number])))
    assert reverse("cases:detail", args=[original.number]) in text


def test_the_case_that_goes_on_lists_the_reports_cancelled_as_its_duplicates(
    client, cast, report, world
):
    """The kept case said nothing of them: whoever works it never learnt that a second
    report, another reporter, its photos, had come in."""
    # The duplicates waited in the pool: never the department's, unlike the original.
    original = report()
    first, second = report(category=None, description="同一堆垃圾"), report(category=None)
    for duplicate in (second, first):
        workflow.case_cancel(
            case=duplicate, actor=cast.dispatcher, reason="重复上报", duplicate_of=original
        )
    client.force_login(cast.dispatcher)
    page = client.get(reverse("cases:detail", args=[original.number]))
    duplicates = re.search(r'<dd class="duplicates">(.*?)</dd>', page.text).group(1)
    assert re.findall(r'<a href="/cases/([-\d]+)/">', duplicates) == [first.number, second.number]
    assert "Duplicates of this case" in page.text
    # Its department cannot open those cancelled reports: none are listed to it.
    client.force_login(cast.liaison)
    assert (
        'class="duplicates"' not in client.get(reverse("cases:detail", args=[original.number])).text
    )


@pytest.mark.parametrize("typed", ["{year}{serial}", " {year}－{serial} ", "{year} {serial}"])
def test_a_duplicates_number_is_found_without_its_hyphen(client, cast, report, typed):
    original, duplicate = report(), report(description="同一堆垃圾")
    year, serial = original.number.split("-")
    client.force_login(cast.dispatcher)
    post_transition(
        client,
        duplicate,
        "cancel",
        reason="重复上报",
        duplicate_of=typed.format(year=year, serial=serial),
    )
    duplicate.refresh_from_db()
    assert duplicate.state == State.CANCELLED and duplicate.duplicate_of == original


def test_caseworker_cannot_open_another_townships_case(client, cast, world, report):
    south_case = report(reporter=cast.south_caseworker, cell=world.s1)
    client.force_login(cast.caseworker)
    assert client.get(reverse("cases:detail", args=[south_case.number])).status_code == 404
    response = post_transition(client, south_case, "cancel", reason="x")
    assert response.status_code == 404
    assert south_case.number not in page_text(client.get("/cases/"))


def test_liaison_cannot_open_another_departments_case(client, cast, world, report):
    cg_case = report()  # rubbish → CG
    client.force_login(cast.other_liaison)
    assert client.get(reverse("cases:detail", args=[cg_case.number])).status_code == 404
    assert post_transition(client, cg_case, "accept").status_code == 404
    cg_case.refresh_from_db()
    assert cg_case.state == State.ASSIGNED
    assert cg_case.number not in page_text(client.get("/cases/"))


def test_liaison_sees_own_departments_cases_only_in_the_list(client, cast, world, report):
    cg_case = report()
    fallback_case = report(category=world.lamp)
    client.force_login(cast.liaison)
    text = page_text(client.get("/cases/"))
    assert cg_case.number in text
    assert fallback_case.number not in text


def test_fallback_pool_shows_own_township_oldest_first(client, cast, world, report):
    first = report(category=None)
    second = report(category=world.stall, cell=world.n2)
    south = report(reporter=cast.south_caseworker, cell=world.s1, category=None)
    client.force_login(cast.dispatcher)
    response = client.get("/cases/fallback/")
    numbers = [case.number for case, _form in response.context["rows"]]
    assert numbers == [first.number, second.number]
    assert south.number not in page_text(response)
    # Not only cases no rule covers: the page says what else waits there.
    assert "no rule, two rules, no category, outside the grid, or returned" in page_text(response)


def test_caseworker_sees_the_pool_but_gets_no_dispatch_form(client, cast, report):
    report(category=None)
    client.force_login(cast.caseworker)
    response = client.get("/cases/fallback/")
    assert [may_dispatch for _case, may_dispatch in response.context["rows"]] == [False]
    assert response.context["dispatch_form"] is None
    assert 'name="lead"' not in page_text(response)


def test_case_list_query_count_does_not_grow_with_rows(
    client, cast, world, report, django_assert_max_num_queries
):
    client.force_login(cast.caseworker)
    for _ in range(2):
        report()
    with django_assert_max_num_queries(10) as few:
        client.get("/cases/")
    for _ in range(10):
        report(category=world.stall, cell=world.n2)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get("/cases/")
    assert len(response.context["page"]) == 12


def test_fallback_pool_query_count_does_not_grow_with_rows(
    client, cast, world, report, django_assert_max_num_queries
):
    client.force_login(cast.dispatcher)
    report(category=world.stall, cell=world.n2)
    with django_assert_max_num_queries(11) as few:  # 9, the router's and the calendar's stamp
        client.get("/cases/fallback/")
    for _ in range(6):
        report(category=world.stall, cell=world.n2)
        report(category=None)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get("/cases/fallback/")
    assert len(response.context["rows"]) == 13


def pool_of_every_kind(report, cast, world) -> list[Case]:
    """One case of each kind a pool row shows: an overlap, no category, no rule with the
    departments the assist rules name, a case returned once, and one returned twice (to
    arbitrate) after a whistle."""
    returned = report()
    workflow.case_return(case=returned, actor=cast.liaison, reason="不归城管")
    disputed = report(category=world.stall, cell=world.n1)
    workflow.case_dispatch(
        case=disputed,
        actor=cast.dispatcher,
        lead=world.urban,
        assisting=[world.market, world.housing],
        whistle=True,
    )
    workflow.case_return(case=disputed, actor=cast.liaison, reason="不归城管")
    workflow.case_dispatch(
        case=disputed, actor=cast.dispatcher, lead=world.market, assisting=[world.housing]
    )
    workflow.case_return(case=disputed, actor=cast.other_liaison, reason="不归市场监管")
    return [
        report(category=world.stall, cell=world.n2),
        report(category=None),
        report(category=world.lamp, cell=world.n3),
        returned,
        disputed,
    ]


@pytest.mark.parametrize("who", ["dispatcher", "supervisor"])
def test_the_pool_costs_the_same_queries_for_more_cases_of_every_kind(
    client, cast, world, report, who, django_assert_max_num_queries
):
    """Returns, arbitrations, whistles and assist rules each read once for the page."""
    Responsibility.objects.create(category=world.lamp, department=world.housing, role="assist")
    client.force_login(getattr(cast, who))
    pool_of_every_kind(report, cast, world)
    client.get("/cases/fallback/")  # the router's index and the calendar, loaded once
    with django_assert_max_num_queries(14) as few:
        client.get("/cases/fallback/")
    queries = len(few.captured_queries)
    for _ in range(3):
        pool_of_every_kind(report, cast, world)
    with django_assert_max_num_queries(queries):
        response = client.get("/cases/fallback/")
    rows = response.context["rows"]
    assert len(rows) == 20
    assert sum(case.needs_arbitration for case, _may in rows) == 4
    assert all(
        case.listed_assisting_boxes for case, may in rows if may and case.category == world.lamp
    )


def test_the_pool_says_a_returned_case_is_back_in_it_not_waiting_since_then(
    client, cast, world, report
):
    """Oldest report first, the pool read "waiting for 0 minutes" at the top for a case
    reported days ago and just returned: its wait counted from the return."""
    with time_machine.travel(timezone.now() - timedelta(days=3)):
        returned = report()
        waiting = report(category=None)
    workflow.case_return(case=returned, actor=cast.liaison, reason="不归城管")
    client.force_login(cast.dispatcher)
    text = page_text(client.get("/cases/fallback/"))
    assert "back in the pool for 0\xa0minutes" in text
    assert "waiting for 0\xa0minutes" not in text
    # Never returned, it has waited since its report, the date the pool is ordered by.
    assert text.count("waiting for 3\xa0days") == 1 and waiting.number in text


def test_the_pool_gives_the_time_left_to_dispatch_in_working_time(client, cast, report):
    """It read "dispatch within 19 hours" (Django's calendar time, "1 周，3 天" in
    Chinese) where every other page says the working time left ("6 天 7 小时")."""
    # Monday 2026-03-02 15:00 in Shanghai: 4 working hours to dispatch, to Tuesday 11:00.
    with time_machine.travel(datetime(2026, 3, 2, 7, 0, tzinfo=UTC), tick=False):
        report(category=None)
    client.force_login(cast.dispatcher)
    with time_machine.travel(datetime(2026, 3, 2, 8, 0, tzinfo=UTC), tick=False):  # 16:00
        english = page_text(client.get("/cases/fallback/", HTTP_ACCEPT_LANGUAGE="en"))
        chinese = page_text(client.get("/cases/fallback/", HTTP_ACCEPT_LANGUAGE="zh-hans"))
    assert "dispatch within 3 hours of working time" in english
    assert "19\xa0hours" not in english
    assert "按工作时间须在 3 小时内派遣" in chinese


def test_detail_says_a_dispatcher_chose_the_lead_not_the_rules(client, cast, world, report):
    case = report(category=world.stall, cell=world.n2)  # overlap
    workflow.case_dispatch(case=case, actor=cast.dispatcher, lead=world.urban, comment="城管牵头")
    client.force_login(cast.caseworker)
    response = client.get(reverse("cases:detail", args=[case.number]))
    routing = response.context["routing"]
    assert routing.how == "dispatch" and routing.department == world.urban
    text = page_text(response)
    when = date_format(timezone.localtime(case.events.get(action="dispatch").at), "DATETIME_FORMAT")
    assert f"Dispatched from the fallback pool by Dispatcher on {when}. " in text
    assert "城管牵头" in text
    assert "Basis in the responsibility list" not in text


def test_detail_of_a_returned_case_names_the_department_and_its_reason(client, cast, report):
    case = report()
    workflow.case_return(case=case, actor=cast.liaison, reason="不属于城管职责")
    client.force_login(cast.dispatcher)
    response = client.get(reverse("cases:detail", args=[case.number]))
    assert response.context["routing"].how == "returned"
    text = page_text(response)
    assert "Returned by 城管局" in text and "不属于城管职责" in text


def test_the_timeline_names_the_departments_each_decision_named(
    client, cast, world, report, django_assert_max_num_queries
):
    case = report(category=world.stall, cell=world.n2)  # overlap: CG and SJ both lead
    workflow.case_dispatch(
        case=case, actor=cast.dispatcher, lead=world.urban, assisting=[world.market], whistle=True
    )
    workflow.case_return(case=case, actor=cast.liaison, reason="不归城管")
    client.force_login(cast.caseworker)
    text = page_text(client.get(reverse("cases:detail", args=[case.number])))
    assert "several departments are responsible · candidates: 城管局, 市场监管局" in text
    assert "lead: 城管局 · assisting: 市场监管局 · summoned by a whistle" in text
    assert "by 城管局" in text
    # Each change of state once; the report row's action already says "reported".
    states = re.findall(r'<span class="states">([^<]*)</span>', text)
    assert states == [
        "reported → fallback pool",
        "fallback pool → assigned",
        "assigned → fallback pool",
    ]
    client.force_login(cast.admin)
    history = client.get(reverse("admin:cases_case_history", args=[case.pk])).text
    assert "lead: 城管局 · assisting: 市场监管局" in history
    with django_assert_max_num_queries(12):
        audit = client.get(reverse("admin:cases_caseevent_changelist")).text
    assert "lead: 城管局 · assisting: 市场监管局" in audit and "by 城管局" in audit
    # Its filters read in words too, and filter.
    assert ">dispatched</a>" in audit and ">fallback pool</a>" in audit
    returns = client.get(reverse("admin:cases_caseevent_changelist"), {"action": "return"})
    assert [event.action for event in returns.context["cl"].result_list] == ["return"]


def routing_text(client, case) -> tuple[str, str]:
    response = client.get(reverse("cases:detail", args=[case.number]))
    return response.context["routing"].standing, page_text(response)


def test_detail_of_a_case_returned_twice_says_a_supervisor_decides(client, cast, disputed):
    client.force_login(cast.caseworker)
    standing, text = routing_text(client, disputed)
    assert standing == "arbitration"
    assert "returned twice: a supervisor will decide who leads" in text
    assert "a dispatcher will decide" not in text


def test_detail_of_a_suspended_or_cancelled_pool_case_says_so(client, cast, world, report):
    case = report(category=world.stall, cell=world.n2)  # overlap: in the pool
    workflow.case_suspend(case=case, actor=cast.supervisor, reason="待街道研究")
    client.force_login(cast.caseworker)
    standing, text = routing_text(client, case)
    assert standing == "suspended"
    assert "when a supervisor suspended it; resumed, it goes back there" in text
    assert "It is in the fallback pool" not in text

    workflow.case_cancel(case=case, actor=cast.supervisor, reason="重复上报")
    standing, text = routing_text(client, case)
    assert standing == "ended"
    assert "until it was cancelled; no department was named to lead" in text
    assert "a dispatcher will decide" not in text


def test_detail_of_an_ended_or_suspended_assigned_case_speaks_of_its_lead(
    client, cast, world, report
):
    case = report()
    workflow.case_suspend(case=case, actor=cast.supervisor, reason="待街道研究")
    client.force_login(cast.caseworker)
    standing, text = routing_text(client, case)
    assert standing == "suspended"
    assert "the lead department; a supervisor has suspended it" in text

    workflow.case_resume(case=case, actor=cast.supervisor)
    workflow.case_cancel(case=case, actor=cast.supervisor, reason="重复上报")
    standing, text = routing_text(client, case)
    assert standing == "ended"
    assert f"It was with <strong>{world.urban.name}</strong>, the lead department, until" in text
    assert "It is with" not in text
    actions = page_text(client.get(reverse("cases:detail", args=[case.number])))
    assert "Nothing: this case is cancelled." in actions
    assert "waits for someone else" not in actions


def test_pool_names_the_candidates_and_the_case_page_offers_them_first(client, cast, world, report):
    case = report(category=world.stall, cell=world.n2)
    client.force_login(cast.dispatcher)
    text = page_text(client.get("/cases/fallback/"))
    assert f'<span class="candidate">{world.urban}</span>' in text
    assert f'<span class="candidate">{world.market}</span>' in text
    forms = client.get(reverse("cases:detail", args=[case.number])).context["transition_forms"]
    form = next(form for name, _label, form in forms if name == "dispatch")
    groups = form.fields["lead"].choices
    assert [value for value, _label in groups[1][1]] == [world.urban.pk, world.market.pk]


def test_detail_shows_working_hours_left_on_the_official_calendar(client, cast, world, report):
    import time_machine
    from django.utils import timezone as tz

    # Monday 2026-03-02 10:00 in Shanghai; rubbish must be accepted within 2 working hours.
    with time_machine.travel(datetime(2026, 3, 2, 2, 0, tzinfo=UTC), tick=False):
        case = report()
        client.force_login(cast.caseworker)
        text = page_text(client.get(reverse("cases:detail", args=[case.number])))
        assert "· 2 hours of working time left</dd>" in text
        assert "2\xa0hours left" not in text  # Django's calendar time, in other words
    with time_machine.travel(tz.localtime(case.due_at) + timedelta(hours=1), tick=False):
        text = page_text(client.get(reverse("cases:detail", args=[case.number])))
        assert "· overdue by 1 hour of working time</dd>" in text
    with translation.override("zh-hans"):
        assert working_time_words(-26 * 3600, overdue=True) == "按工作时间已超期 3 天 2 小时"
    # The evening after a 17:00 deadline: overdue, though no working time has run since.
    with time_machine.travel(datetime(2026, 3, 2, 7, 0, tzinfo=UTC), tick=False):
        evening = report()  # Monday 15:00, due at 17:00
    with time_machine.travel(datetime(2026, 3, 2, 11, 30, tzinfo=UTC), tick=False):  # 19:30
        assert evening.due_at < tz.now()
        text = page_text(client.get(reverse("cases:detail", args=[evening.number])))
        assert "· overdue, the deadline has just passed</dd>" in text
        assert "of working time left" not in text


def test_a_suspended_case_shows_the_working_time_its_stopped_clock_keeps(client, cast, report):
    from cases.admin.cases import CaseAdmin

    # Monday 2026-03-02 10:00 in Shanghai; rubbish must be accepted within 2 working hours.
    with time_machine.travel(datetime(2026, 3, 2, 2, 0, tzinfo=UTC), tick=False):
        on_time, late = report(), report()
    with time_machine.travel(datetime(2026, 3, 2, 3, 0, tzinfo=UTC), tick=False):  # 11:00
        workflow.case_suspend(case=on_time, actor=cast.supervisor, reason="待专项整治")
    with time_machine.travel(datetime(2026, 3, 2, 5, 30, tzinfo=UTC), tick=False):  # 13:30
        workflow.case_suspend(case=late, actor=cast.supervisor, reason="待专项整治")
    client.force_login(cast.caseworker)

    # A week on, nothing has run down: the clock stopped.
    with time_machine.travel(datetime(2026, 3, 9, 2, 0, tzinfo=UTC), tick=False):
        texts = [
            page_text(client.get(reverse("cases:detail", args=[case.number])))
            for case in (on_time, late)
        ]
        column = CaseAdmin(Case, None).time_left
        columns = [column(Case.objects.get(pk=case.pk)) for case in (on_time, late)]

    assert "Clock stopped: 1 hour of working time left (accept)" in texts[0]
    assert "Clock stopped: overdue by 1 h 30 min of working time (accept)" in texts[1]
    assert columns == ["clock stopped: 1 hour left", "clock stopped: overdue by 1 h 30 min"]


def test_detail_query_count_does_not_grow_with_its_timeline_and_notes(
    client, cast, report, django_assert_max_num_queries
):
    from cases.services.notes import case_add_note

    case = report()
    client.force_login(cast.caseworker)
    with django_assert_max_num_queries(40) as few:
        client.get(reverse("cases:detail", args=[case.number]))
    workflow.case_accept(case=case, actor=cast.liaison)
    for n in range(6):
        case_add_note(case=case, author=cast.caseworker, text=f"备注 {n}")
    workflow.case_resolve(case=case, actor=cast.liaison, note="好了")
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(reverse("cases:detail", args=[case.number]))
    assert len(response.context["notes"]) == 6


def test_the_timeline_says_what_a_correction_changed_from_what(
    client, cast, world, report, django_assert_max_num_queries
):
    """The row said only "corrected category or cell": not which, nor what it had been."""
    case = report(category=None, cell=world.n1)
    correct_as_shown(case, actor=cast.dispatcher, category=world.rubbish, cell=world.n1)
    case.refresh_from_db()
    correct_as_shown(case, actor=cast.dispatcher, category=world.rubbish, cell=world.n2)
    client.force_login(cast.dispatcher)
    response = client.get(reverse("cases:detail", args=[case.number]))
    details = [e.detail for e in response.context["events"] if e.action == "correct"]
    assert details[0].startswith("category: not classified → 暴露垃圾 · lead: 城管局")
    assert details[1].startswith(f"cell: {world.n1.name} → {world.n2.name}")
    with translation.override("zh-hans"):
        assert trail_words.with_details(case.events.filter(action="correct"))[-1].detail.startswith(
            f"网格：{world.n1.name} → {world.n2.name}"
        )
    client.force_login(cast.admin)
    with django_assert_max_num_queries(14):
        audit = client.get(reverse("admin:cases_caseevent_changelist")).text
    assert "category: not classified → 暴露垃圾" in audit


def test_summoned_liaison_reports_for_duty_from_the_case_page(client, cast, world, report):
    case = report(category=world.lamp)
    workflow.case_dispatch(
        case=case, actor=cast.dispatcher, lead=world.urban, assisting=[world.market], whistle=True
    )
    client.force_login(cast.other_liaison)  # of SJ, the summoned department
    page = client.get(reverse("cases:detail", args=[case.number]))
    assert page.context["summons"].department == world.market
    # The page's field is the form's: its limit is the one the POST is held to.
    assert re.search(
        rf'<textarea name="comment" cols="40" rows="2" maxlength="{MAX_TEXT_LENGTH}" '
        r'id="id_duty_comment">',
        page.text,
    )
    client.post(reverse("cases:report_for_duty", args=[case.number]), {"comment": "已到场"})
    assist = case.assists.get(department=world.market)
    assert assist.reported_at is not None
    assert case.events.filter(action="report_for_duty", actor=cast.other_liaison).exists()
    assert client.get(reverse("cases:detail", args=[case.number])).context["summons"] is None


def test_a_missed_report_for_duty_reads_as_a_fact_once_its_time_has_passed(
    client, cast, world, report
):
    """Past its time, the case page still said "must report for duty by …", beside "not
    reported in time", and the summoned liaison's form asked for it by then."""
    case = report(category=world.lamp)
    workflow.case_dispatch(
        case=case, actor=cast.dispatcher, lead=world.urban, assisting=[world.market], whistle=True
    )
    due = case.assists.get(department=world.market).report_due_at
    client.force_login(cast.other_liaison)  # of SJ, the summoned department
    url = reverse("cases:detail", args=[case.number])
    assert "must report for duty by" in page_text(client.get(url))
    # At the deadline itself it has passed, as a case's own does (and the list says).
    with time_machine.travel(due, tick=False):
        assert "not reported in time" in page_text(client.get(url, HTTP_ACCEPT_LANGUAGE="en"))
    with time_machine.travel(due + timedelta(minutes=1), tick=False):
        english = page_text(client.get(url, HTTP_ACCEPT_LANGUAGE="en"))
        chinese = page_text(client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans"))
    assert "must report for duty" not in english
    assert re.search(r"was due to report for duty by [^<]+ · not reported in time</span>", english)
    assert "市场监管局, summoned by a whistle, was due to report for duty by" in english
    assert "须在" not in chinese
    assert re.search(r"应于 [^<]+ 前报到 · 未按时报到</span>", chinese)
    assert re.search(r"市场监管局被吹哨召集，应于 [^<]+ 前报到，现已逾期", chinese)


def test_a_finished_case_asks_no_summoned_department_to_report_for_duty(
    client, cast, world, report
):
    """Closed or cancelled, the case page still said "must report for duty by …" of a
    summoned department that had not, which could no longer; and once that time had
    passed, "not reported in time" of a case that had ended before it."""
    case = report(category=world.lamp)
    workflow.case_dispatch(
        case=case, actor=cast.dispatcher, lead=world.urban, assisting=[world.market], whistle=True
    )
    due = case.assists.get(department=world.market).report_due_at
    workflow.case_cancel(case=case, actor=cast.dispatcher, reason="重复上报")
    client.force_login(cast.caseworker)
    url = reverse("cases:detail", args=[case.number])
    for moment in (due - timedelta(minutes=1), due + timedelta(days=1)):
        with time_machine.travel(moment, tick=False):
            english = page_text(client.get(url, HTTP_ACCEPT_LANGUAGE="en"))
            chinese = page_text(client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans"))
        assert "summoned by whistle, had not reported for duty when the case ended" in english
        assert "must report for duty" not in english
        assert "not reported in time" not in english
        assert "吹哨召集，案件结束时尚未报到" in chinese
        assert "须在" not in chinese


def test_a_report_for_duty_with_a_comment_longer_than_a_reason_is_refused(
    client, cast, world, report
):
    case = report(category=world.lamp)
    workflow.case_dispatch(
        case=case, actor=cast.dispatcher, lead=world.urban, assisting=[world.market], whistle=True
    )
    client.force_login(cast.other_liaison)  # of SJ, the summoned department
    url = reverse("cases:report_for_duty", args=[case.number])
    response = client.post(url, {"comment": "已到场" * 667})  # 2,001 characters
    assert case.assists.get(department=world.market).reported_at is None
    assert not case.events.filter(action="report_for_duty").exists()
    [refusal] = [str(m) for m in get_messages(response.wsgi_request)]
    assert "at most 2000 characters (it has 2001)" in refusal
    client.post(url, {"comment": "已到场"})
    assert case.assists.get(department=world.market).reported_at is not None


def test_a_liaison_whose_department_was_not_summoned_cannot_report_for_duty(
    client, cast, world, report
):
    case = report(category=world.lamp)
    workflow.case_dispatch(
        case=case, actor=cast.dispatcher, lead=world.urban, assisting=[world.market], whistle=True
    )
    client.force_login(cast.liaison)  # the lead's liaison, not summoned
    assert client.get(reverse("cases:detail", args=[case.number])).context["summons"] is None
    client.post(reverse("cases:report_for_duty", args=[case.number]))
    assert not case.events.filter(action="report_for_duty").exists()


def test_dispatch_takes_the_lead_departments_code_too(client, cast, world, report):
    case = report(category=None)
    client.force_login(cast.dispatcher)
    post_transition(client, case, "dispatch", lead="SJ")
    case.refresh_from_db()
    assert case.state == State.ASSIGNED and case.lead_department == world.market


def test_the_report_form_takes_category_and_cell_codes_too(client, cast, world):
    client.force_login(cast.caseworker)
    response = client.post(
        "/cases/new/",
        {"category": "ENV-RUBBISH", "cell": "N-01", "description": "垃圾", "urgency": "normal"},
    )
    assert response.status_code == 302
    case = Case.objects.get()
    assert (case.category, case.cell) == (world.rubbish, world.n1)


def close_after_dispatch(report, cast, world, *, category, lead):
    """A case of `category` sent out of the pool to `lead` (the urban department, whose
    liaison is in the cast), handled and closed: a past decision the flywheel counts."""
    case = report(category=category, description="过去的兜底案件")
    workflow.case_dispatch(case=case, actor=cast.dispatcher, lead=lead)
    workflow.case_accept(case=case, actor=cast.liaison)
    workflow.case_resolve(case=case, actor=cast.liaison, note="已处理")
    workflow.case_verify(case=case, actor=cast.caseworker)
    return case


def dispatch_form_of(response):
    forms = response.context["transition_forms"]
    return next(form for name, _label, form in forms if name == "dispatch")


def test_an_overlap_cases_page_offers_its_candidates_as_quick_picks_beside_the_reason(
    client, cast, world, report
):
    case = report(category=world.stall, cell=world.n2)  # two lead rules: overlap
    client.force_login(cast.dispatcher)
    response = client.get(reverse("cases:detail", args=[case.number]))
    text = page_text(response)
    area = text[text.index('id="dispatch"') : text.index('class="facts"')]
    # The reason and the form together, the form right under the routing explanation.
    assert str(case.get_fallback_reason_display()) in area
    assert f'action="/cases/{case.number}/dispatch/"' in area
    picks = [f'data-lead="{world.urban.pk}"', f'data-lead="{world.market.pk}"']
    assert all(pick in area for pick in picks)
    assert area.index(picks[0]) < area.index(picks[1])  # by code: CG, SJ
    # Two candidates: the dispatcher chooses, nothing is chosen for them.
    assert dispatch_form_of(response)["lead"].value() is None
    # The form is not offered a second time further down.
    assert text.count("transition-dispatch") == 1


def test_the_only_suggestion_is_preselected_as_the_lead(client, cast, world, report):
    for _ in range(2):
        close_after_dispatch(report, cast, world, category=world.lamp, lead=world.urban)
    case = report(category=world.lamp)  # no rule: in the pool
    client.force_login(cast.dispatcher)
    response = client.get(reverse("cases:detail", args=[case.number]))
    assert [
        (s.department, s.past.count, s.past.total) for s in response.context["suggestions"]
    ] == [(world.urban, 2, 2)]
    form = dispatch_form_of(response)
    assert form["lead"].value() == world.urban.pk
    assert form.fields["lead"].choices[1][1] == [(world.urban.pk, str(world.urban))]
    assert f'<option value="{world.urban.pk}" selected>' in page_text(response)
    assert "led 2 of 2 closed cases of this category" in page_text(response)


def test_a_department_that_returned_the_case_is_not_suggested_to_lead_it(
    client, cast, world, report
):
    for _ in range(2):
        close_after_dispatch(report, cast, world, category=world.lamp, lead=world.urban)
    case = report(category=world.lamp)
    workflow.case_dispatch(case=case, actor=cast.dispatcher, lead=world.urban)
    workflow.case_return(case=case, actor=cast.liaison, reason="不归城管")
    client.force_login(cast.dispatcher)
    response = client.get(reverse("cases:detail", args=[case.number]))
    assert response.context["suggestions"] == []
    assert dispatch_form_of(response)["lead"].value() is None


def test_a_returned_overlap_case_has_its_candidates_again_less_the_one_that_returned_it(
    client, cast, world, report
):
    case = report(category=world.stall, cell=world.n2)  # two lead rules: urban and market
    workflow.case_dispatch(case=case, actor=cast.dispatcher, lead=world.urban)
    assert not case.candidate_departments.exists()
    workflow.case_return(case=case, actor=cast.liaison, reason="不归城管")

    assert set(case.candidate_departments.all()) == {world.urban, world.market}
    client.force_login(cast.dispatcher)
    response = client.get(reverse("cases:detail", args=[case.number]))
    assert [(s.department, s.candidate) for s in response.context["suggestions"]] == [
        (world.market, True)
    ]
    row = page_text(client.get("/cases/fallback/")).split(case.number, 1)[1]
    candidates = re.search(r"Candidate departments:(.*)</p>", row).group(1)
    assert re.findall(r'<span class="candidate">([^<]*)</span>', candidates) == [
        str(world.urban),
        str(world.market),
    ]


def test_a_pooled_cases_page_query_count_does_not_grow_with_past_decisions(
    client, cast, world, report, django_assert_max_num_queries
):
    close_after_dispatch(report, cast, world, category=world.lamp, lead=world.urban)
    case = report(category=world.lamp)
    client.force_login(cast.dispatcher)
    with django_assert_max_num_queries(40) as few:
        client.get(reverse("cases:detail", args=[case.number]))
    for _ in range(3):
        close_after_dispatch(report, cast, world, category=world.lamp, lead=world.urban)
    with django_assert_max_num_queries(len(few.captured_queries) + 1):  # + the hint's department
        response = client.get(reverse("cases:detail", args=[case.number]))
    assert response.context["suggestions"][0].past.count == 4


def test_each_pool_case_links_to_the_dispatch_form_on_its_page(client, cast, world, report):
    case = report(category=world.stall, cell=world.n2)
    client.force_login(cast.dispatcher)
    text = page_text(client.get("/cases/fallback/"))
    assert f'href="/cases/{case.number}/#dispatch">{case.number}</a>' in text
    assert f'class="dispatch-on-page" href="/cases/{case.number}/#dispatch"' in text
    # Who may not dispatch reads the case page from its top.
    client.force_login(cast.caseworker)
    text = page_text(client.get("/cases/fallback/"))
    assert f'href="/cases/{case.number}/">{case.number}</a>' in text and "#dispatch" not in text


@pytest.mark.parametrize(
    "role, status",
    [
        ("dispatcher", 200),
        ("caseworker", 200),
        ("supervisor", 200),
        ("district_supervisor", 200),
        ("admin", 200),
        ("liaison", 403),
        ("other_liaison", 403),
    ],
)
def test_the_fallback_pool_is_for_township_staff_and_supervisors(
    client, cast, world, report, role, status
):
    case = report(category=world.lamp)
    workflow.case_dispatch(
        case=case, actor=cast.dispatcher, lead=world.market, assisting=[world.urban]
    )
    workflow.case_return(case=case, actor=cast.other_liaison, reason="不归市场监管")
    client.force_login(getattr(cast, role))
    response = client.get("/cases/fallback/")
    assert response.status_code == status
    # The page is linked from the menu exactly for those who may open it.
    menu = page_text(client.get("/cases/"))
    assert ('href="/cases/fallback/"' in menu) == (status == 200)
    if status == 403:
        # An assisting department's liaison saw this pooled case on the page before.
        assert case.number not in page_text(response)


def test_a_returned_cases_row_says_who_returned_it_and_why(
    client, cast, world, report, django_assert_max_num_queries
):
    case = report()
    workflow.case_return(case=case, actor=cast.liaison, reason="不归城管")
    client.force_login(cast.dispatcher)
    with django_assert_max_num_queries(12) as few:  # 10, the router's and the calendar's stamp
        text = page_text(client.get("/cases/fallback/"))
    one_row_queries = len(few.captured_queries)
    assert f"Returned by {world.urban.name} on " in text and "“不归城管”" in text
    # The audit row's department, not the liaison's department of today.
    cast.liaison.department = world.market
    cast.liaison.save(update_fields=["department"])
    assert f"Returned by {world.urban.name} on " in page_text(client.get("/cases/fallback/"))
    cast.liaison.department = world.urban
    cast.liaison.save(update_fields=["department"])
    for _ in range(4):
        workflow.case_return(case=report(), actor=cast.liaison, reason="再次退回")
        report(category=None)
    with django_assert_max_num_queries(one_row_queries):
        response = client.get("/cases/fallback/")
    assert len(response.context["rows"]) == 9


def test_a_resolved_cases_page_shows_the_caseworker_what_the_department_says_it_did(
    client, cast, report
):
    case = report()
    workflow.case_accept(case=case, actor=cast.liaison)
    workflow.case_resolve(case=case, actor=cast.liaison, note="已清运，现场已冲洗")
    client.force_login(cast.caseworker)
    response = client.get(reverse("cases:detail", kwargs={"number": case.number}))
    # Beside the verify and reopen forms, not only at the foot of the timeline.
    actions = page_text(response).split("What you can do now", 1)[1].split("Internal notes")[0]
    assert f"Resolved by {cast.liaison.get_full_name()}" in actions
    assert "已清运，现场已冲洗" in actions
    assert "Check on site that the problem is fixed" in actions
    assert "the photos are above" not in actions  # there are none


def test_the_verify_hint_points_at_the_photos_when_there_are_some(
    client, cast, report, tmp_path, settings
):
    from cases.services.photos import case_add_photos
    from tests.cases.test_photos import image_file

    settings.MEDIA_ROOT = tmp_path
    case = report()
    workflow.case_accept(case=case, actor=cast.liaison)
    case_add_photos(case=case, uploaded_by=cast.liaison, uploads=[image_file()])
    workflow.case_resolve(case=case, actor=cast.liaison, note="已清运")
    client.force_login(cast.caseworker)
    response = client.get(reverse("cases:detail", kwargs={"number": case.number}))
    assert "Check on site that the problem is fixed (the photos are above)" in page_text(response)


def test_each_transition_form_says_what_it_does(client, cast, report):
    case = report()
    workflow.case_accept(case=case, actor=cast.liaison)
    workflow.case_resolve(case=case, actor=cast.liaison, note="已清运")
    client.force_login(cast.caseworker)
    url = reverse("cases:detail", kwargs={"number": case.number})
    helps = re.findall(r'<p class="transition-help">([^<]*)</p>', page_text(client.get(url)))
    assert helps == [
        "Fixed on site: close the case.",
        "Not fixed: send it back to the department, saying why.",
    ]
    chinese = client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans").text
    assert '<p class="transition-help">现场已修复：结案。</p>' in chinese
    # Every transition a case page offers has its line, but dispatch, which has a heading.
    assert set(TRANSITION_FORMS) - {"dispatch"} == set(TRANSITION_HELP)


@pytest.mark.parametrize(
    "role",
    ["caseworker", "dispatcher", "liaison", "supervisor", "district_supervisor", "admin"],
)
def test_the_menu_offers_a_page_exactly_when_it_opens(client, cast, role):
    client.force_login(getattr(cast, role))
    menu = page_text(client.get(reverse("cases:list"))).split("</nav>", 1)[0]
    for name in ("cases:new", "cases:fallback", "dashboard"):
        url = reverse(name)
        assert (f'href="{url}"' in menu) == (client.get(url).status_code == 200), (role, url)


@pytest.mark.parametrize(
    ("language", "best", "worst"),
    [
        ("en", "5 – very satisfied", "1 – very dissatisfied"),
        ("zh-hans", "5 – 非常满意", "1 – 非常不满意"),
    ],
)
def test_the_rating_says_which_end_is_best(client, cast, report, language, best, worst):
    case = report()
    workflow.case_accept(case=case, actor=cast.liaison)
    workflow.case_resolve(case=case, actor=cast.liaison, note="已清理")
    client.force_login(cast.caseworker)
    page = client.get(
        reverse("cases:detail", args=[case.number]), HTTP_ACCEPT_LANGUAGE=language
    ).text
    rating = re.search(r'<select name="satisfaction".*?</select>', page, re.S).group()
    assert f'<option value="5">{best}</option>' in rating
    assert f'<option value="1">{worst}</option>' in rating
