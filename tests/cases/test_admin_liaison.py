"""Liaisons in the admin (SPEC §1): they see only their department's cases, by every admin
URL, and accept, return and resolve through the workflow services."""

import html
import re

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from cases.models import Case, CaseAssist, CaseEvent, ExtensionRequest, OutboxMessage, State
from cases.services import workflow
from cases.services.notes import case_add_note
from departments.services import sync_role_groups


@pytest.fixture
def own_case(report):
    """A rubbish case: routed to the urban-management department (the liaison's)."""
    return report(description="垃圾桶满溢")


@pytest.fixture
def lead_by(report, cast, world):
    """A stall case (two lead rules: fallback) dispatched to `department`."""

    def _lead_by(department, description="占道经营摊位"):
        case = report(category=world.stall, description=description)
        assert case.state == State.FALLBACK
        return workflow.case_dispatch(case=case, actor=cast.dispatcher, lead=department)

    return _lead_by


@pytest.fixture
def foreign_case(lead_by, world):
    """A case led by the market-regulation department (the other liaison's)."""
    return lead_by(world.market, description="市场监管局的案件")


def change_url(case):
    return reverse("admin:cases_case_change", args=[case.pk])


def transition_url(case, name):
    return reverse("admin:cases_case_act", args=[case.pk, name])


def messages_of(response):
    return [str(message) for message in get_messages(response.wsgi_request)]


def test_liaison_changelist_lists_only_their_departments_cases(
    client, cast, own_case, foreign_case
):
    client.force_login(cast.liaison)
    response = client.get(reverse("admin:cases_case_changelist"))
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [own_case]
    assert own_case.number in response.text
    assert foreign_case.number not in response.text


def test_liaison_sees_cases_their_department_assists(client, cast, lead_by, world):
    case = lead_by(world.market)
    case.assists.create(department=world.urban)
    client.force_login(cast.liaison)
    response = client.get(reverse("admin:cases_case_changelist"))
    assert case in response.context["cl"].result_list
    assert client.get(change_url(case)).status_code == 200


def test_liaison_search_does_not_find_another_departments_case(
    client, cast, own_case, foreign_case
):
    client.force_login(cast.liaison)
    changelist = reverse("admin:cases_case_changelist")
    response = client.get(changelist, {"q": foreign_case.number})
    assert list(response.context["cl"].result_list) == []
    response = client.get(changelist, {"q": "案件"})
    assert foreign_case not in response.context["cl"].result_list
    response = client.get(changelist, {"q": own_case.number})
    assert list(response.context["cl"].result_list) == [own_case]
    # By its serial alone, as /cases/ finds it: what people read out on the phone.
    response = client.get(changelist, {"q": own_case.number.split("-")[1]})
    assert list(response.context["cl"].result_list) == [own_case]


@pytest.mark.parametrize("view", ["change", "history", "delete"])
def test_liaison_cannot_open_another_departments_case(client, cast, foreign_case, view):
    client.force_login(cast.liaison)
    response = client.get(reverse(f"admin:cases_case_{view}", args=[foreign_case.pk]))
    assert response.status_code == 404


def test_liaison_opens_their_own_case_and_its_audit_trail(client, cast, own_case):
    client.force_login(cast.liaison)
    response = client.get(change_url(own_case))
    assert response.status_code == 200
    assert own_case.description in response.text
    history = client.get(reverse("admin:cases_case_history", args=[own_case.pk]))
    assert history.status_code == 200
    assert [event.action for event in history.context["events"]] == ["report", "route"]


def test_a_case_with_no_lead_shows_an_empty_field_not_none(client, cast, lead_by, world):
    case = lead_by(world.market)
    case.assists.create(department=world.urban)
    workflow.case_return(case=case, actor=cast.other_liaison, reason="不属于本部门职责")
    assert case.state == State.FALLBACK and case.lead_department is None
    client.force_login(cast.liaison)  # the assisting department's
    page = client.get(change_url(case)).text
    lead = re.search(r"Lead department.*?<div class=\"readonly\">(.*?)</div>", page, re.S)
    assert lead and lead.group(1) == "-"


def test_liaison_sees_who_was_summoned_to_their_case(client, cast, report, world):
    case = report(category=world.stall, description="占道经营摊位")
    workflow.case_dispatch(
        case=case, actor=cast.dispatcher, lead=world.urban, assisting=[world.market], whistle=True
    )
    client.force_login(cast.liaison)

    response = client.get(change_url(case))

    inlines = {inline.opts.model: inline for inline in response.context["inline_admin_formsets"]}
    assisting = [form.original for form in inlines.get(CaseAssist, [])]
    assert [assist.department for assist in assisting] == [world.market]
    assert assisting[0].summoned


def assists_section(page):
    """The assisting departments' part of a case's change page."""
    start = page.index('id="assists-group"')
    return page[start : page.index("</fieldset>", start)]


def test_a_case_nobody_assists_says_so_in_one_line_not_an_empty_table(
    client, cast, report, world, django_assert_num_queries
):
    alone = report(category=world.stall, description="无人协办")
    workflow.case_dispatch(case=alone, actor=cast.dispatcher, lead=world.urban)
    helped = report(category=world.stall, description="有人协办")
    workflow.case_dispatch(
        case=helped, actor=cast.dispatcher, lead=world.urban, assisting=[world.market]
    )
    client.force_login(cast.liaison)
    client.get(change_url(helped))  # warm the per-process caches
    with CaptureQueriesContext(connection) as with_assists:
        helped_page = client.get(change_url(helped), HTTP_ACCEPT_LANGUAGE="zh-hans").text
    # Asking whether there are any costs no query of its own.
    with django_assert_num_queries(len(with_assists)):
        alone_page = client.get(change_url(alone), HTTP_ACCEPT_LANGUAGE="zh-hans").text

    assert "<table" in assists_section(helped_page) and "市场监管局" in helped_page
    none = assists_section(alone_page)
    assert "<table" not in none and "<th" not in none
    assert "协办部门" in none and '<p class="inline-none">无</p>' in none


def test_liaison_audit_trail_changelist_hides_another_departments_events(
    client, cast, own_case, foreign_case
):
    client.force_login(cast.liaison)
    response = client.get(reverse("admin:cases_caseevent_changelist"))
    cases = {event.case_id for event in response.context["cl"].result_list}
    assert cases == {own_case.pk}
    foreign_event = foreign_case.events.first()
    url = reverse("admin:cases_caseevent_change", args=[foreign_event.pk])
    assert client.get(url).status_code == 404


def test_nobody_adds_or_deletes_cases_in_the_admin(client, cast, own_case):
    client.force_login(cast.admin)
    assert client.get(reverse("admin:cases_case_add")).status_code == 403
    assert client.post(reverse("admin:cases_case_delete", args=[own_case.pk])).status_code == 403
    assert Case.objects.filter(pk=own_case.pk).exists()


def test_nobody_changes_or_deletes_audit_rows_in_the_admin(client, cast, own_case):
    client.force_login(cast.admin)
    event = own_case.events.first()
    response = client.post(
        reverse("admin:cases_caseevent_change", args=[event.pk]), {"comment": "forged"}
    )
    assert response.status_code == 403
    delete = reverse("admin:cases_caseevent_delete", args=[event.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    event.refresh_from_db()
    assert event.comment == ""


def test_change_page_is_read_only_so_a_posted_state_changes_nothing(client, cast, own_case):
    client.force_login(cast.liaison)
    response = client.post(change_url(own_case), {"state": State.CLOSED, "description": "x"})
    assert response.status_code == 403
    own_case.refresh_from_db()
    assert own_case.state == State.ASSIGNED


def test_change_page_offers_only_the_transitions_the_liaison_may_fire(client, cast, own_case):
    client.force_login(cast.liaison)
    response = client.get(change_url(own_case))
    assert [form["name"] for form in response.context["transition_forms"]] == [
        "accept",
        "return",
        "request-extension",
    ]
    assert transition_url(own_case, "accept") in response.text
    assert transition_url(own_case, "resolve") not in response.text


def test_admin_sees_no_transition_buttons_for_a_liaisons_case(client, cast, own_case):
    client.force_login(cast.admin)
    response = client.get(change_url(own_case))
    assert response.status_code == 200
    assert response.context["transition_forms"] == []


def test_liaison_accepts_then_resolves_through_the_admin_buttons(client, cast, own_case):
    client.force_login(cast.liaison)
    response = client.post(transition_url(own_case, "accept"), {"version": own_case.version})
    assert response.status_code == 302
    own_case.refresh_from_db()
    assert own_case.state == State.IN_PROGRESS

    response = client.post(
        transition_url(own_case, "resolve"),
        {"version": own_case.version, "note": "已清运"},
        follow=True,
    )
    own_case.refresh_from_db()
    assert own_case.state == State.RESOLVED
    assert any("resolve" in text for text in messages_of(response))
    events = list(own_case.events.order_by("at", "id").values_list("action", "actor", "comment"))
    assert events[-2:] == [("accept", cast.liaison.pk, ""), ("resolve", cast.liaison.pk, "已清运")]


def test_liaison_returns_a_case_with_a_reason_through_the_admin(client, cast, own_case):
    client.force_login(cast.liaison)
    response = client.post(
        transition_url(own_case, "return"),
        {"version": own_case.version, "reason": "不属于城管职责"},
        follow=True,
    )
    # The case left the department's sight: the liaison lands on the list, told it went.
    assert response.redirect_chain[-1][0] == reverse("admin:cases_case_changelist")
    assert response.status_code == 200
    assert messages_of(response) == [f"Case {own_case.number}: return done."]
    own_case.refresh_from_db()
    assert own_case.state == State.FALLBACK
    event = own_case.events.latest("at", "id")
    assert (event.action, event.from_state, event.to_state, event.comment) == (
        "return",
        State.ASSIGNED,
        State.FALLBACK,
        "不属于城管职责",
    )


def test_return_without_a_reason_is_refused_and_changes_nothing(client, cast, own_case):
    client.force_login(cast.liaison)
    before = CaseEvent.objects.count()
    response = client.post(
        transition_url(own_case, "return"),
        {"version": own_case.version, "reason": ""},
        follow=True,
    )
    own_case.refresh_from_db()
    assert own_case.state == State.ASSIGNED
    assert CaseEvent.objects.count() == before
    assert messages_of(response)


def test_forged_post_on_another_departments_case_is_a_404_and_changes_nothing(
    client, cast, foreign_case
):
    client.force_login(cast.liaison)
    before = CaseEvent.objects.count()
    response = client.post(
        transition_url(foreign_case, "accept"), {"version": foreign_case.version}
    )
    assert response.status_code == 404
    foreign_case.refresh_from_db()
    assert foreign_case.state == State.ASSIGNED
    assert CaseEvent.objects.count() == before


def test_forged_post_of_a_transition_not_allowed_in_this_state_changes_nothing(
    client, cast, own_case
):
    client.force_login(cast.liaison)
    before = CaseEvent.objects.count()
    response = client.post(
        transition_url(own_case, "resolve"),
        {"version": own_case.version, "note": "伪造"},
        follow=True,
    )
    own_case.refresh_from_db()
    assert own_case.state == State.ASSIGNED
    assert CaseEvent.objects.count() == before
    assert any("cannot be given" in text for text in messages_of(response))


def test_forged_post_of_a_transition_the_admin_does_not_offer_is_a_404(client, cast, own_case):
    client.force_login(cast.liaison)
    response = client.post(transition_url(own_case, "verify"), {"verify-version": 0})
    assert response.status_code == 404
    own_case.refresh_from_db()
    assert own_case.state == State.ASSIGNED


def test_liaison_of_another_department_visible_as_assistant_still_cannot_accept(
    client, cast, lead_by, world
):
    case = lead_by(world.market)
    case.assists.create(department=world.urban)
    client.force_login(cast.liaison)
    response = client.post(transition_url(case, "accept"), {"version": case.version}, follow=True)
    case.refresh_from_db()
    assert case.state == State.ASSIGNED
    assert any("may not" in text for text in messages_of(response))


def test_stale_version_is_refused_and_changes_nothing(client, cast, own_case):
    stale_version = own_case.version
    workflow.case_accept(case=own_case, actor=cast.liaison)
    client.force_login(cast.liaison)
    response = client.post(
        transition_url(own_case, "return"),
        {"version": stale_version, "reason": "不属于城管职责"},
        follow=True,
    )
    own_case.refresh_from_db()
    assert own_case.state == State.IN_PROGRESS
    assert any("changed" in text for text in messages_of(response))


def test_transition_urls_do_nothing_on_get_but_lead_to_the_case(client, cast, own_case):
    client.force_login(cast.liaison)
    response = client.get(transition_url(own_case, "accept"))
    assert response.status_code == 302
    assert response["Location"] == change_url(own_case)
    assert client.put(transition_url(own_case, "accept")).status_code == 405
    own_case.refresh_from_db()
    assert own_case.state == State.ASSIGNED


def test_caseworker_without_staff_status_cannot_enter_the_admin(client, cast, own_case):
    client.force_login(cast.caseworker)
    response = client.post(transition_url(own_case, "accept"), {"version": 0})
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]
    own_case.refresh_from_db()
    assert own_case.state == State.ASSIGNED


def test_cases_changelist_query_count_does_not_grow_with_rows(
    client, cast, report, django_assert_max_num_queries
):
    for index in range(30):
        report(description=f"垃圾 {index}")
    client.force_login(cast.liaison)
    url = reverse("admin:cases_case_changelist")
    # Four of them fetch the page's categories, cells, townships and departments.
    with django_assert_max_num_queries(14):
        response = client.get(url)
    assert len(response.context["cl"].result_list) == 30


def test_a_transition_posted_without_the_pages_version_changes_nothing(client, cast, own_case):
    """Without the version the page showed, a stale click could not be told from a fresh one."""
    client.force_login(cast.liaison)
    client.post(transition_url(own_case, "accept"))
    own_case.refresh_from_db()
    assert own_case.state == State.ASSIGNED
    client.post(transition_url(own_case, "accept"), {"version": own_case.version})
    own_case.refresh_from_db()
    assert own_case.state == State.IN_PROGRESS


def test_filtering_by_another_department_finds_nothing_for_a_liaison(
    client, cast, world, own_case, foreign_case
):
    client.force_login(cast.liaison)
    response = client.get(
        reverse("admin:cases_case_changelist"), {"lead_department__id__exact": world.market.pk}
    )
    assert list(response.context["cl"].result_list) == []
    response = client.get(
        reverse("admin:cases_case_changelist"), {"number__in": foreign_case.number}
    )
    assert list(response.context["cl"].result_list) == []


@pytest.mark.parametrize(
    "name",
    [
        "accept",
        "return",
        "resolve",
        "report-for-duty",
        "request-extension",
        "decide-extension",
        "arbitrate",
    ],
)
def test_every_button_url_of_another_departments_case_is_a_404(client, cast, foreign_case, name):
    client.force_login(cast.liaison)
    before = foreign_case.events.count()
    response = client.post(
        transition_url(foreign_case, name),
        {"version": foreign_case.version, "reason": "x", "note": "x", "extra_days": "1"},
    )
    assert response.status_code == 404
    assert foreign_case.events.count() == before


def test_the_admin_timeline_and_its_labels_speak_chinese(client, cast, own_case, world):
    extension = ExtensionRequest.Status.PENDING
    client.force_login(cast.liaison)
    page = client.get(
        reverse("admin:cases_case_change", args=[own_case.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans"
    ).content.decode()
    # The timeline's action and states in words, not "report →reported" and state codes.
    assert "已分拨" in page and "已派遣" in page  # routed, and its state: assigned
    assert ">route<" not in page and ">assigned<" not in page
    assert f"{own_case.pk} + " not in page and "Deadline kind" not in page
    with translation.override("zh-hans"):
        # Waiting for a decision, not the outbox's "waiting to be sent".
        assert str(extension.label) != str(OutboxMessage.Status.PENDING.label)


def test_the_accept_queue_holds_the_cases_the_department_leads_not_those_it_assists(
    client, cast, own_case, report, world
):
    assisted = report(category=world.stall, description="协办的案件")
    workflow.case_dispatch(
        case=assisted, actor=cast.dispatcher, lead=world.market, assisting=[world.urban]
    )
    client.force_login(cast.liaison)
    index = client.get(reverse("admin:index")).content.decode()
    link = re.search(r'href="([^"]+)">Cases waiting for your department to accept', index)
    queue = client.get(html.unescape(link.group(1)))
    assert [case.number for case in queue.context["cl"].result_list] == [own_case.number]


def test_only_liaisons_are_offered_to_accept_the_selected_cases(client, cast, own_case):
    # A superuser's accept is always refused (not a lead department's liaison).
    sync_role_groups(users=[cast.liaison, cast.supervisor])  # as the role's groups give

    def offered(user):
        user.refresh_from_db()
        client.force_login(user)
        changelist = client.get(reverse("admin:cases_case_changelist"))
        assert changelist.status_code == 200, changelist
        action_form = changelist.context["action_form"]
        return (
            [name for name, _label in action_form.fields["action"].choices] if action_form else []
        )

    assert "accept_selected" in offered(cast.liaison)
    assert "accept_selected" not in offered(cast.supervisor)
    assert "accept_selected" not in offered(cast.admin)
    assert "export_csv" in offered(cast.admin)


def test_the_admin_case_page_leads_to_the_photos_and_notes_on_the_case_page(client, cast, own_case):
    case_add_note(case=own_case, author=cast.caseworker, text="第三次报告：垃圾")
    client.force_login(cast.liaison)
    page = client.get(reverse("admin:cases_case_change", args=[own_case.pk])).content.decode()
    case_page = reverse("cases:detail", args=[own_case.number])
    assert f'href="{case_page}"' in page
    assert "Grid governance" in page and "Django administration" not in page
    assert "第三次报告：垃圾" in client.get(case_page).content.decode()


def test_a_liaison_sees_related_records_as_text_where_their_pages_would_refuse_them(
    client, cast, own_case
):
    client.force_login(cast.liaison)
    page = client.get(change_url(own_case)).text
    assert own_case.category.name in page and own_case.township.name in page
    for admin_page in ("category", "department", "township", "gridcell", "user"):
        assert f"/admin/departments/{admin_page}/" not in page
    client.force_login(cast.admin)
    page = client.get(change_url(own_case)).text
    assert f"/admin/departments/category/{own_case.category.pk}/change/" in page


def test_a_liaison_cannot_guess_a_masked_phone_through_the_admins_url_filters(
    client, cast, own_case
):
    Case.objects.filter(pk=own_case.pk).update(reporter_phone="13812345678")
    changelist = reverse("admin:cases_case_changelist")
    client.force_login(cast.liaison)
    for lookup in ("reporter_phone__startswith", "reporter_name__regex", "reporter_phone"):
        assert client.get(changelist, {lookup: "138"}).status_code == 400
    client.force_login(cast.admin)
    found = client.get(changelist, {"reporter_phone__startswith": "1381"})
    assert [case.pk for case in found.context["cl"].result_list] == [own_case.pk]


@pytest.mark.parametrize(
    ("model", "lookup", "value"),
    [
        ("case", "number__regex", "(a"),
        ("case", "address__iregex", "("),
        ("case", "id__range", "1"),
        ("case", "address__contains", "路\x00"),
        ("caseevent", "comment__regex", "("),
        ("extensionrequest", "reason__contains", "\x00"),
    ],
)
def test_a_lookup_typed_into_the_admins_url_that_the_database_cannot_take_is_a_400(
    client, cast, own_case, model, lookup, value
):
    """Each was a 500 (the database refused the pattern, the range or the NUL)."""
    client.force_login(cast.liaison)
    changelist = reverse(f"admin:cases_{model}_changelist")
    assert client.get(changelist, {lookup: value}).status_code == 400
    client.force_login(cast.admin)
    assert client.get(changelist, {lookup: value}).status_code == 400


def test_the_admins_own_links_still_filter_by_a_list_of_numbers(client, cast, own_case, report):
    # The rule suggestions link to the cases behind each (cases/admin/flywheel.py).
    also_own = report(description="垃圾没人清")
    client.force_login(cast.liaison)
    changelist = reverse("admin:cases_case_changelist")
    assert len(client.get(changelist).context["cl"].result_list) == 2
    found = client.get(changelist, {"number__in": own_case.number})
    assert [case.pk for case in found.context["cl"].result_list] == [own_case.pk]
    assert also_own.pk != own_case.pk


def test_the_admin_index_lists_a_liaisons_own_recent_steps(
    client, cast, own_case, report, foreign_case, django_assert_max_num_queries
):
    """Django's "Recent actions" only lists what its own forms logged, so it read "None
    available" however many cases the liaison had accepted or returned: their audit rows
    instead, each case linked while it is still theirs to see, and nobody else's steps."""
    returned = report(description="不归城管的案件")
    client.force_login(cast.liaison)
    assert "None yet" in client.get(reverse("admin:index")).content.decode()
    workflow.case_accept(case=own_case, actor=cast.liaison)
    workflow.case_return(case=returned, actor=cast.liaison, reason="不属于城管")
    workflow.case_accept(case=foreign_case, actor=cast.other_liaison)
    with django_assert_max_num_queries(8):
        index = client.get(reverse("admin:index")).content.decode()
    steps = index[index.index('id="recent-actions-module"') :]
    assert "None available" not in steps and "None yet" not in steps
    assert f'<a href="{change_url(own_case)}">{own_case.number}</a> accepted' in steps
    # Returned to the pool, out of the liaison's sight: named, not linked to a 404.
    assert f"{returned.number} returned" in steps and change_url(returned) not in steps
    assert foreign_case.number not in steps


def test_a_supervisors_empty_recent_steps_speak_of_what_a_supervisor_does(client, cast, own_case):
    """The empty list told a supervisor that "the cases you accept, return or resolve" are
    listed there: steps that only a department's liaison takes."""
    sync_role_groups(users=[cast.supervisor])
    client.force_login(cast.supervisor)
    page = client.get(reverse("admin:index")).content.decode()
    steps = page[page.index('id="recent-actions-module"') :]
    assert "accept, return or resolve" not in steps
    assert "None yet: the cases you arbitrate, suspend or decide an extension of" in steps
    workflow.case_suspend(case=own_case, actor=cast.supervisor, reason="等待上级批复")
    page = client.get(reverse("admin:index")).content.decode()
    assert f'<a href="{change_url(own_case)}">{own_case.number}</a> suspended' in page


def test_a_users_recent_steps_are_read_newest_first_from_the_actors_index(cast, own_case):
    """With only the actor's plain index, PostgreSQL sorted every row of the user (a
    liaison's hundreds of thousands at a district's scale) for ten, or walked the whole
    trail by time for a user whose steps are all old."""
    from cases.selectors.trail import recent_steps_of

    workflow.case_accept(case=own_case, actor=cast.liaison)
    with connection.cursor() as cursor:
        # As on a large table: an index wherever one serves.
        cursor.execute("SET LOCAL enable_seqscan = off")
        with CaptureQueriesContext(connection) as queries:
            assert [step.action for step in recent_steps_of(cast.liaison)] == ["accept"]
        (sql,) = [q["sql"] for q in queries if "cases_caseevent" in q["sql"]]
        cursor.execute(f"EXPLAIN {sql}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Index Scan Backward using event_actor_at" in plan, plan
