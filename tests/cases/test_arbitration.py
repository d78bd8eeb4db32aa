"""Return arbitration (SPEC §2): a case returned twice waits for a supervisor, who names the
lead department in the admin, on the case page or from the pool; the decision is final for
the case and recorded."""

import re

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.urls import reverse

from cases.models import Case, State
from cases.services import arbitration, corrections, liaison, workflow
from cases.services.transitions import (
    NotPermitted,
    TransitionNotAllowed,
    WorkflowError,
    available_transitions,
    may_fire,
)
from departments.services import sync_role_group
from tests.conftest import correct_as_shown


@pytest.fixture
def supervisor(cast):
    sync_role_group(cast.supervisor)
    cast.supervisor.refresh_from_db()
    return cast.supervisor


def act_url(case, name):
    return reverse("admin:cases_case_act", args=[case.pk, name])


def test_supervisor_lists_the_cases_awaiting_arbitration(client, report, disputed, supervisor):
    other = report(description="普通案件")
    client.force_login(supervisor)
    response = client.get(reverse("admin:cases_case_changelist"), {"waiting": "arbitration"})
    assert list(response.context["cl"].result_list) == [disputed]
    assert other not in response.context["cl"].result_list


def test_supervisor_names_the_lead_and_the_decision_is_final(
    client, cast, world, disputed, supervisor
):
    client.force_login(supervisor)
    page = client.get(reverse("admin:cases_case_change", args=[disputed.pk]))
    assert "arbitrate" in [form["name"] for form in page.context["transition_forms"]]
    client.post(
        act_url(disputed, "arbitrate"),
        {
            "version": disputed.version,
            "lead": world.urban.pk,
            "reason": "依据属地管理原则由城管牵头",
        },
    )
    disputed.refresh_from_db()
    assert disputed.state == State.ASSIGNED
    assert disputed.lead_department == world.urban
    assert disputed.lead_is_final
    event = disputed.events.filter(action="dispatch").latest("at", "id")
    assert event.actor == supervisor
    assert event.comment == "依据属地管理原则由城管牵头"
    assert event.data["arbitrated"] is True

    assert "return" not in available_transitions(disputed, cast.liaison)
    client.force_login(cast.liaison)
    response = client.post(
        act_url(disputed, "return"),
        {"version": disputed.version, "reason": "仍不属于城管"},
        follow=True,
    )
    disputed.refresh_from_db()
    assert disputed.state == State.ASSIGNED
    # Told why, not only "You may not return this case.": its page, opened before the
    # arbitration, offered the return.
    assert [str(m) for m in get_messages(response.wsgi_request)][-1] == (
        f"Case {disputed.number}: Returned twice, this case was arbitrated: the decision is"
        " final, your department cannot return it."
    )


@pytest.fixture
def arbitrated(cast, world, disputed, supervisor):
    arbitration.case_arbitrate(
        case=disputed, actor=supervisor, lead=world.housing, reason="住建负责小区垃圾"
    )
    return Case.objects.get(pk=disputed.pk)


def test_only_a_supervisor_may_correct_a_case_whose_lead_an_arbitration_named(
    cast, world, arbitrated
):
    """A dispatcher's correction would give the case to the lead routing names instead."""
    assert not corrections.may_correct(arbitrated, cast.dispatcher)
    with pytest.raises(NotPermitted, match="only a supervisor may correct it"):
        correct_as_shown(
            arbitrated,
            actor=cast.dispatcher,
            category=world.environment,
            cell=arbitrated.cell,
        )
    arbitrated.refresh_from_db()
    assert arbitrated.lead_department == world.housing and arbitrated.lead_is_final


def test_a_correction_that_gives_an_arbitrated_case_another_lead_lets_that_lead_return_it(
    cast, world, arbitrated, supervisor
):
    """The arbitration named the old lead; the one routing names now was never asked."""
    correct_as_shown(
        arbitrated,
        actor=supervisor,
        category=world.environment,  # led by the urban department everywhere
        cell=arbitrated.cell,
    )
    case = Case.objects.get(pk=arbitrated.pk)
    assert case.lead_department == world.urban and not case.lead_is_final
    assert may_fire(case, cast.liaison, "return")


def test_a_summoned_department_named_lead_no_longer_reports_for_duty(
    cast, world, report, supervisor
):
    case = report(category=world.stall, cell=world.n2)  # overlap: in the pool
    workflow.case_dispatch(
        case=case, actor=cast.dispatcher, lead=world.urban, assisting=[world.market], whistle=True
    )
    assert case.assists.get().summoned
    workflow.case_return(case=case, actor=cast.liaison, reason="不属于城管")
    workflow.case_dispatch(case=case, actor=cast.dispatcher, lead=world.urban)
    workflow.case_return(case=case, actor=cast.liaison, reason="仍不属于城管")
    arbitration.case_arbitrate(
        case=case, actor=supervisor, lead=world.market, reason="市场监管牵头"
    )
    assert case.lead_department == world.market
    assert not case.assists.filter(department=world.market).exists()


def test_a_department_summoned_again_reports_for_duty_again(cast, world, report):
    case = report(category=world.stall, cell=world.n2)  # overlap: in the pool
    summons = {"lead": world.urban, "assisting": [world.market], "whistle": True}
    workflow.case_dispatch(case=case, actor=cast.dispatcher, **summons)
    liaison.assist_report_for_duty(case=case, actor=cast.other_liaison)
    workflow.case_return(case=case, actor=cast.liaison, reason="不属于城管")
    workflow.case_dispatch(case=case, actor=cast.dispatcher, **summons)
    assist = case.assists.get(department=world.market)
    assert assist.summoned and assist.reported_at is None and assist.report_due_at is not None
    liaison.assist_report_for_duty(case=case, actor=cast.other_liaison)
    assert case.events.filter(action="report_for_duty").count() == 2


def test_a_dispatcher_cannot_arbitrate(cast, world, disputed):
    with pytest.raises(NotPermitted):
        arbitration.case_arbitrate(
            case=disputed, actor=cast.dispatcher, lead=world.urban, reason="调度决定"
        )
    disputed.refresh_from_db()
    assert disputed.state == State.FALLBACK


def test_arbitration_needs_a_reason(world, disputed, supervisor):
    with pytest.raises(WorkflowError):
        arbitration.case_arbitrate(case=disputed, actor=supervisor, lead=world.urban, reason="")
    disputed.refresh_from_db()
    assert disputed.state == State.FALLBACK


def test_a_case_returned_once_is_not_arbitrated(report, cast, world, supervisor):
    case = report(description="退回一次")
    workflow.case_return(case=case, actor=cast.liaison, reason="不属于城管")
    with pytest.raises(TransitionNotAllowed):
        arbitration.case_arbitrate(case=case, actor=supervisor, lead=world.urban, reason="x")


def test_the_arbitrate_button_is_not_offered_to_a_dispatcher_or_a_liaison(
    client, cast, disputed, supervisor
):
    client.force_login(cast.liaison)
    # The pool case is no longer the urban department's: it does not exist for them.
    assert client.get(reverse("admin:cases_case_change", args=[disputed.pk])).status_code == 404
    response = client.post(act_url(disputed, "arbitrate"), {"version": disputed.version})
    assert response.status_code == 404


def test_the_case_page_tells_a_supervisor_that_dispatching_it_is_the_final_arbitration(
    client, world, disputed, supervisor
):
    client.force_login(supervisor)
    page = client.get(reverse("cases:detail", kwargs={"number": disputed.number}))
    text = page.content.decode()
    assert "Arbitration: who leads?" in text
    assert "Dispatch: who leads?" not in text
    # The two departments in dispute are offered, each marked as having returned it.
    offered = re.findall(r'data-lead="(\d+)"', text)
    assert offered == [str(world.urban.pk), str(world.market.pk)]
    assert text.count("returned this case") == 2


def test_an_arbitration_from_the_case_page_needs_a_reason(client, world, disputed, supervisor):
    client.force_login(supervisor)
    url = reverse("cases:transition", kwargs={"number": disputed.number, "transition": "dispatch"})
    response = client.post(
        url, {"expected_version": disputed.version, "lead": world.urban.pk}, follow=True
    )
    disputed.refresh_from_db()
    assert disputed.state == State.FALLBACK
    assert any("an arbitration is final" in str(m) for m in get_messages(response.wsgi_request))

    client.post(
        url,
        {"expected_version": disputed.version, "lead": world.urban.pk, "comment": "属地管理"},
    )
    disputed.refresh_from_db()
    assert (disputed.state, disputed.lead_is_final) == (State.ASSIGNED, True)


def admin_page(client, case) -> str:
    return client.get(reverse("admin:cases_case_change", args=[case.pk])).content.decode()


def test_the_admins_arbitration_names_assisting_departments_as_a_dispatch_does(
    client, world, disputed, supervisor
):
    """SPEC §2: a dispatch names a lead and optionally assisting departments; a supervisor's
    arbitration, in the admin as on the case page, is that dispatch."""
    client.force_login(supervisor)
    page = admin_page(client, disputed)
    assert 'name="assisting"' in page and "Assisting departments" in page

    client.post(
        act_url(disputed, "arbitrate"),
        {
            "version": disputed.version,
            "lead": world.urban.pk,
            "assisting": [world.housing.pk],
            "reason": "城管牵头，住建配合",
        },
    )

    disputed.refresh_from_db()
    assert (disputed.state, disputed.lead_department) == (State.ASSIGNED, world.urban)
    assert [assist.department for assist in disputed.assists.all()] == [world.housing]
    assert not disputed.assists.get().summoned
    event = disputed.events.filter(action="dispatch").latest("at", "id")
    assert (event.data["arbitrated"], event.data["assisting"]) == (True, [world.housing.pk])


def test_the_admins_arbitration_offers_the_assisting_departments_on_the_case_ticked(
    client, cast, world, report, supervisor
):
    """Those on the case already come ticked, as in the dispatch form: left as they are,
    they stay; unticked, one leaves the case."""
    from tests.cases.test_dispatch_assisting import ticked

    case = report(description="责任不清的垃圾")
    workflow.case_return(case=case, actor=cast.liaison, reason="不属于城管")
    workflow.case_dispatch(
        case=case, actor=cast.dispatcher, lead=world.market, assisting=[world.housing]
    )
    workflow.case_return(case=case, actor=cast.other_liaison, reason="不属于市场监管")
    client.force_login(supervisor)
    page = admin_page(client, case)
    assert ticked(page, "assisting") == [world.housing.pk]
    assert "On the case already: 住建局" in page

    response = client.post(
        act_url(case, "arbitrate"),
        {"version": case.version, "lead": world.urban.pk, "reason": "城管牵头"},
    )

    assert response.status_code == 302
    case.refresh_from_db()
    assert (case.state, list(case.assists.all())) == (State.ASSIGNED, [])


def test_the_admins_arbitration_refuses_a_lead_also_ticked_to_assist(
    client, world, disputed, supervisor
):
    client.force_login(supervisor)
    response = client.post(
        act_url(disputed, "arbitrate"),
        {
            "version": disputed.version,
            "lead": world.urban.pk,
            "assisting": [world.urban.pk],
            "reason": "城管牵头",
        },
        follow=True,
    )
    disputed.refresh_from_db()
    assert disputed.state == State.FALLBACK
    assert any(
        "leads: it cannot also assist" in str(m) for m in get_messages(response.wsgi_request)
    )


def test_an_arbitration_from_the_case_page_names_assisting_departments_too(
    client, world, disputed, supervisor
):
    client.force_login(supervisor)
    client.post(
        reverse("cases:transition", kwargs={"number": disputed.number, "transition": "dispatch"}),
        {
            "expected_version": disputed.version,
            "lead": world.urban.pk,
            "assisting": [world.housing.pk],
            "comment": "城管牵头，住建配合",
        },
    )
    disputed.refresh_from_db()
    assert (disputed.state, disputed.lead_is_final) == (State.ASSIGNED, True)
    assert [assist.department for assist in disputed.assists.all()] == [world.housing]


def test_the_admins_arbitration_refused_for_a_lead_ticked_to_assist_comes_back_without_it(
    client, world, disputed, supervisor
):
    """As the case page's dispatch form: the refused form comes back with the lead unticked
    and the rest as typed, so that pressing the button again arbitrates (it came back as
    typed, and was refused again)."""
    from tests.cases.test_dispatch_assisting import ticked

    client.force_login(supervisor)
    client.post(
        act_url(disputed, "arbitrate"),
        {
            "version": disputed.version,
            "lead": world.urban.pk,
            "assisting": [world.urban.pk, world.housing.pk],
            "reason": "城管牵头，住建配合",
        },
    )
    page = client.get(reverse("admin:cases_case_change", args=[disputed.pk]))
    form = next(f["form"] for f in page.context["transition_forms"] if f["name"] == "arbitrate")
    assert ticked(page.content.decode(), "assisting") == [world.housing.pk]
    assert (form["lead"].value(), form["reason"].value()) == (
        str(world.urban.pk),
        "城管牵头，住建配合",
    )

    client.post(act_url(disputed, "arbitrate"), {k: form[k].value() for k in form.fields})
    disputed.refresh_from_db()
    assert (disputed.state, disputed.lead_department) == (State.ASSIGNED, world.urban)
    assert [assist.department for assist in disputed.assists.all()] == [world.housing]


def test_the_case_page_says_the_lead_was_named_by_a_final_arbitration(
    client, cast, world, disputed, supervisor
):
    """After the arbitration the page said only "dispatched from the fallback pool", as for
    any dispatch: nothing told the caseworker or the lead that it cannot be returned."""
    client.force_login(supervisor)
    client.post(
        reverse("cases:transition", kwargs={"number": disputed.number, "transition": "dispatch"}),
        {"expected_version": disputed.version, "lead": world.housing.pk, "comment": "属地管理"},
    )
    disputed.refresh_from_db()
    assert disputed.lead_is_final
    client.force_login(cast.caseworker)
    url = reverse("cases:detail", kwargs={"number": disputed.number})
    routing = client.get(url).context["routing"]
    assert (routing.how, routing.department) == ("arbitration", world.housing)
    page = client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans").text
    said = re.search(r'<p class="arbitrated">(.*?)</p>', page, re.S)[1]
    assert "仲裁：此决定为最终决定，该部门不能再退回" in said and "属地管理" in said
    assert "从兜底池派遣" not in page

    # A correction that names another lead ends the arbitration's say (the new lead may
    # return the case): the page no longer calls it final.
    # Environment is led by the urban department everywhere.
    correct_as_shown(disputed, actor=supervisor, category=world.environment, cell=disputed.cell)
    assert client.get(url).context["routing"].how != "arbitration"


def dispatch_buttons(page: str) -> dict[str, str]:
    """The pool page's dispatch buttons by case number: their words and data attributes."""
    found = re.findall(
        r'<button [^>]*class="dispatch-case"\s+formaction="/cases/([^/]+)/dispatch/"([^>]*)>'
        r"(.*?)</button>",
        page,
    )
    return {number: (words, attributes) for number, attributes, words in found}


def test_the_case_page_words_a_supervisors_dispatch_of_a_case_returned_twice_as_the_arbitration(
    client, cast, world, report, disputed, supervisor
):
    """The button read "派遣" and the message "已执行“派遣”", while the section above
    it and the admin's button said it was the arbitration; the transition keeps its name."""
    client.force_login(supervisor)
    url = reverse("cases:detail", kwargs={"number": disputed.number})
    button = '<button type="submit" name="do" value="dispatch">%s</button>'
    assert button % "Arbitrate" in client.get(url).text
    assert button % "仲裁" in client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans").text
    act = reverse("cases:transition", kwargs={"number": disputed.number, "transition": "dispatch"})

    refused = client.post(
        act,
        {"expected_version": disputed.version, "lead": world.urban.pk},
        follow=True,
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )
    [said] = [str(m) for m in get_messages(refused.wsgi_request)]
    assert said.startswith(f"案件 {disputed.number}：“仲裁”未执行："), said

    done = client.post(
        act,
        {"expected_version": disputed.version, "lead": world.urban.pk, "comment": "属地管理"},
        follow=True,
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )
    [said] = [str(m) for m in get_messages(done.wsgi_request)]
    assert said.startswith(f"案件 {disputed.number}：已执行“仲裁”"), said
    disputed.refresh_from_db()
    assert (disputed.state, disputed.lead_is_final) == (State.ASSIGNED, True)

    # A case not returned twice is still dispatched, in the same words as before.
    pooled = report(category=None)
    page = client.get(reverse("cases:detail", kwargs={"number": pooled.number})).text
    assert button % "Dispatch" in page


def test_the_pool_words_a_supervisors_dispatch_of_a_case_returned_twice_as_the_arbitration(
    client, cast, report, disputed, supervisor
):
    pooled = report(category=None)
    client.force_login(supervisor)
    page = client.get(reverse("cases:fallback")).text
    row = re.search(rf'id="case-{disputed.number}".*?</article>', page, re.S)[0]
    assert "or arbitrate on the case page" in row and "or dispatch" not in row
    buttons = dispatch_buttons(page)
    words, attributes = buttons[disputed.number]
    assert words == "Arbitrate"
    assert 'data-dispatch-to="Arbitrate: {lead} leads"' in attributes
    # Any other case keeps the page's words ("Dispatch to {lead}", base.js).
    assert buttons[pooled.number][0] == "Dispatch"
    assert "data-dispatch-to" not in buttons[pooled.number][1]

    buttons = dispatch_buttons(
        client.get(reverse("cases:fallback"), HTTP_ACCEPT_LANGUAGE="zh-hans").text
    )
    words, attributes = buttons[disputed.number]
    assert words == "仲裁"
    assert 'data-dispatch-to="仲裁：由 {lead} 牵头"' in attributes
    assert buttons[pooled.number][0] == "派遣"


def pool_intro(page: str) -> str:
    """What the pool page says above its lead picker: which button to press."""
    return re.search(r'id="pool-dispatch".*?<p class="muted">(.*?)</p>', page, re.S)[1]


def test_the_pools_intro_names_the_arbitrate_button_beside_the_dispatch_button(
    client, report, disputed, supervisor
):
    """It said to press "Dispatch" on every case, while a case returned twice has an
    "Arbitrate" button, and its arbitration is refused without a reason."""
    report(category=None)
    client.force_login(supervisor)

    intro = pool_intro(client.get(reverse("cases:fallback")).text)
    assert "“Dispatch”" in intro and "“Arbitrate”" in intro and "say why" in intro

    intro = pool_intro(client.get(reverse("cases:fallback"), HTTP_ACCEPT_LANGUAGE="zh-hans").text)
    assert "“派遣”" in intro and "“仲裁”" in intro and "理由" in intro


def test_the_pools_intro_names_only_the_arbitrate_button_when_only_arbitrations_wait(
    client, disputed, supervisor
):
    client.force_login(supervisor)

    page = client.get(reverse("cases:fallback")).text
    intro = pool_intro(page)
    assert "“Arbitrate”" in intro and "say why" in intro and "Dispatch" not in intro
    # The page's first line, on whom the pool's cases wait for, says it too.
    assert "one returned twice waits for a supervisor to arbitrate" in page

    intro = pool_intro(client.get(reverse("cases:fallback"), HTTP_ACCEPT_LANGUAGE="zh-hans").text)
    assert "“仲裁”" in intro and "派遣" not in intro


def test_the_pools_intro_to_a_dispatcher_names_only_the_dispatch_button(
    client, cast, report, disputed
):
    """A dispatcher may not arbitrate: the case returned twice has no button for them."""
    report(category=None)
    client.force_login(cast.dispatcher)

    intro = pool_intro(client.get(reverse("cases:fallback")).text)
    assert "“Dispatch”" in intro and "Arbitrate" not in intro


def test_a_dispatchers_posted_dispatch_of_a_case_returned_twice_is_refused_as_an_arbitration(
    client, cast, world, disputed
):
    """The page offers a dispatcher no button for it; a POST sent anyway was refused with
    "You may not dispatch this case", while the pool and the case page call it arbitrating."""
    client.force_login(cast.dispatcher)
    act = reverse("cases:transition", kwargs={"number": disputed.number, "transition": "dispatch"})
    posted = {"expected_version": disputed.version, "lead": world.urban.pk, "comment": "调度决定"}

    refused = client.post(act, posted, follow=True)
    [said] = [str(m) for m in get_messages(refused.wsgi_request)]
    assert said == f"Case {disputed.number}: You may not arbitrate this case."

    refused = client.post(act, posted, follow=True, HTTP_ACCEPT_LANGUAGE="zh-hans")
    [said] = [str(m) for m in get_messages(refused.wsgi_request)]
    assert said == f"案件 {disputed.number}：您不能对此案件执行“仲裁”。"
    disputed.refresh_from_db()
    assert disputed.state == State.FALLBACK


def test_the_arbitration_preselects_no_lead_when_the_only_suggestion_returned_the_case_twice(
    client, cast, world, report, supervisor, django_assert_max_num_queries
):
    """Returned twice by the same department, which was then the only suggestion: the
    arbitration form came with it chosen, the department that had refused the case twice."""
    case = report(description="又被退回的垃圾")
    workflow.case_return(case=case, actor=cast.liaison, reason="不属于城管")
    workflow.case_dispatch(case=case, actor=cast.dispatcher, lead=world.urban)
    workflow.case_return(case=case, actor=cast.liaison, reason="仍不属于城管")
    assert case.needs_arbitration
    client.force_login(supervisor)

    # The case page's queries, as before: who returned it comes with the suggestions.
    with django_assert_max_num_queries(18):
        text = client.get(reverse("cases:detail", kwargs={"number": case.number})).content.decode()

    assert re.findall(r'data-lead="(\d+)"', text) == [str(world.urban.pk)]  # still offered
    lead_select = re.search(r'<select name="lead".*?</select>', text, re.S).group(0)
    assert "selected" not in lead_select.replace('value="" selected', 'value=""')


def test_the_arbitration_queue_is_read_from_its_own_index(db):
    """The pool's cases returned twice are few among the pool's, which the queue read all
    of (none of 120,000 at a million cases: 0.38 s)."""
    queue = arbitration.awaiting_arbitration(Case.objects.order_by("-created_at", "-id"))[:50]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    assert "case_awaiting_arbitration" in queue.explain()
