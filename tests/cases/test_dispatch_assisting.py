"""The assisting departments the responsibility list names, offered ticked when a
dispatcher names the lead of a pooled case: on the pool page and on the case page."""

import re
from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from cases.models import State
from cases.services import workflow
from departments.models import Responsibility
from tests.conftest import correct_as_shown


def assist_rule(category, department, **scope_and_dates):
    return Responsibility.objects.create(
        category=category, department=department, role="assist", **scope_and_dates
    )


def ticked(html: str, name: str) -> list[int]:
    """The values of the checked checkboxes called `name` in the page."""
    return [
        int(re.search(r'value="(\d+)"', tag)[1])
        for tag in re.findall(r"<input [^>]*>", html)
        if 'type="checkbox"' in tag and f'name="{name}"' in tag and " checked" in tag
    ]


def pool_page(client) -> str:
    return client.get("/cases/fallback/").content.decode()


def case_page(client, case):
    return client.get(reverse("cases:detail", args=[case.number]))


def dispatch_form_of(response):
    forms = response.context["transition_forms"]
    return next(form for name, _label, form in forms if name == "dispatch")


def post_dispatch(client, case, **data):
    data.setdefault("expected_version", case.version)
    return client.post(reverse("cases:transition", args=[case.number, "dispatch"]), data)


def test_a_pool_cases_assist_rule_is_ticked_on_the_pool_page_and_the_case_page(
    client, cast, world, report
):
    assist_rule(world.lamp, world.housing)
    case = report(category=world.lamp)  # no lead rule: in the pool
    client.force_login(cast.dispatcher)

    assert ticked(pool_page(client), f"assisting-{case.number}") == [world.housing.pk]
    response = case_page(client, case)
    assert ticked(response.content.decode(), "assisting") == [world.housing.pk]
    assert "The responsibility list names 住建局 to assist." in response.content.decode()


def test_an_assist_rule_of_an_ancestor_category_is_ticked_too(client, cast, world, report):
    assist_rule(world.environment, world.housing, township=world.north)
    case = report(category=world.rubbish)
    workflow.case_return(case=case, actor=cast.liaison, reason="不归城管")
    client.force_login(cast.dispatcher)

    assert ticked(pool_page(client), f"assisting-{case.number}") == [world.housing.pk]
    assert ticked(case_page(client, case).content.decode(), "assisting") == [world.housing.pk]


def test_a_pool_case_without_an_assist_rule_has_none_ticked(client, cast, world, report):
    assist_rule(world.lamp, world.housing)  # another category's
    assisted = report(category=world.lamp)
    case = report(category=world.stall, cell=world.n2)  # overlap
    unclassified = report(category=None)
    client.force_login(cast.dispatcher)

    pool = pool_page(client)
    assert pool.count('class="listed-assisting"') == 1  # the lamp case's
    assert ticked(pool, f"assisting-{assisted.number}") == [world.housing.pk]
    for each in (case, unclassified):
        assert ticked(pool, f"assisting-{each.number}") == []
        response = case_page(client, each)
        assert ticked(response.content.decode(), "assisting") == []
        assert "to assist." not in response.content.decode()


def test_an_assist_rule_out_of_its_dates_or_for_another_place_is_not_ticked(
    client, cast, world, report
):
    today = timezone.localdate()
    assist_rule(world.lamp, world.housing, valid_to=today - timedelta(days=1))
    assist_rule(
        world.lamp, world.housing, township=world.north, valid_from=today + timedelta(days=1)
    )
    assist_rule(world.lamp, world.market, township=world.south)
    assist_rule(world.lamp, world.urban, cell=world.n2)
    case = report(category=world.lamp, cell=world.n1)
    elsewhere = report(category=world.lamp, cell=world.n2)
    client.force_login(cast.dispatcher)

    pool = pool_page(client)
    assert ticked(pool, f"assisting-{case.number}") == []
    assert ticked(case_page(client, case).content.decode(), "assisting") == []
    # The cell's own rule holds in that cell.
    assert ticked(pool, f"assisting-{elsewhere.number}") == [world.urban.pk]


def test_the_lead_preselected_on_the_case_page_is_not_ticked_to_assist(client, cast, world, report):
    from tests.cases.test_pages import close_after_dispatch

    for _ in range(2):  # the flywheel suggests the urban department, alone: preselected
        close_after_dispatch(report, cast, world, category=world.lamp, lead=world.urban)
    assist_rule(world.lamp, world.urban)
    assist_rule(world.lamp, world.housing)
    case = report(category=world.lamp)
    client.force_login(cast.dispatcher)

    form = dispatch_form_of(case_page(client, case))
    assert form["lead"].value() == world.urban.pk
    assert form["assisting"].value() == [world.housing.pk]


def test_dispatching_from_the_pool_attaches_what_is_ticked_in_that_cases_row_only(
    client, cast, world, report
):
    assist_rule(world.lamp, world.housing)
    assist_rule(world.lamp, world.market, cell=world.n2)
    first = report(category=world.lamp, cell=world.n1)
    second = report(category=world.lamp, cell=world.n2)
    client.force_login(cast.dispatcher)

    # As the page posts its one form from the first case's button: every row's ticks.
    post_dispatch(
        client,
        first,
        lead=world.urban.pk,
        **{
            f"assisting-{first.number}": [world.housing.pk],
            f"assisting-{second.number}": [world.housing.pk, world.market.pk],
        },
        next="/cases/fallback/",
    )
    # The second, its market regulation unticked.
    post_dispatch(
        client,
        second,
        lead=world.urban.pk,
        **{f"assisting-{second.number}": [world.housing.pk]},
        next="/cases/fallback/",
    )

    first.refresh_from_db()
    second.refresh_from_db()
    assert first.state == second.state == State.ASSIGNED
    assert list(first.assists.values_list("department", flat=True)) == [world.housing.pk]
    assert list(second.assists.values_list("department", flat=True)) == [world.housing.pk]


def test_a_lead_ticked_to_assist_is_refused_and_comes_back_unticked_on_the_case_page(
    client, cast, world, report
):
    assist_rule(world.lamp, world.housing)
    assist_rule(world.lamp, world.market)
    case = report(category=world.lamp)
    client.force_login(cast.dispatcher)

    post_dispatch(
        client, case, lead=world.housing.pk, assisting=[world.housing.pk, world.market.pk]
    )

    case.refresh_from_db()
    assert case.state == State.FALLBACK and not case.assists.exists()
    response = case_page(client, case)
    assert "住建局 leads: it cannot also assist." in response.content.decode()
    form = dispatch_form_of(response)
    assert form["lead"].value() == str(world.housing.pk)
    assert ticked(response.content.decode(), "assisting") == [world.market.pk]
    # As it comes back, it dispatches.
    post_dispatch(client, case, **{key: form.data.getlist(key) for key in form.data})
    case.refresh_from_db()
    assert case.lead_department == world.housing
    assert list(case.assists.values_list("department", flat=True)) == [world.market.pk]


def test_a_lead_ticked_to_assist_in_its_pool_row_is_refused_and_comes_back_unticked(
    client, cast, world, report
):
    assist_rule(world.lamp, world.housing)
    case = report(category=world.lamp)
    other = report(category=world.lamp)
    client.force_login(cast.dispatcher)

    post_dispatch(
        client,
        case,
        lead=world.housing.pk,
        **{
            f"assisting-{case.number}": [world.housing.pk],
            f"assisting-{other.number}": [world.housing.pk],
        },
        next="/cases/fallback/",
    )

    case.refresh_from_db()
    assert case.state == State.FALLBACK and not case.assists.exists()
    response = client.get("/cases/fallback/")
    pool = response.content.decode()
    assert "住建局 leads: it cannot also assist." in pool
    assert response.context["dispatch_form"]["lead"].value() == str(world.housing.pk)
    assert ticked(pool, f"assisting-{case.number}") == []
    assert ticked(pool, f"assisting-{other.number}") == [world.housing.pk]


def test_the_pool_pages_query_count_stays_constant_with_more_assisted_cases(
    client, cast, world, report, django_assert_max_num_queries
):
    assist_rule(world.lamp, world.housing)
    assist_rule(world.stall, world.housing, township=world.north)
    report(category=world.lamp)
    client.force_login(cast.dispatcher)
    with django_assert_max_num_queries(11) as few:  # the calendar's stamp among them
        client.get("/cases/fallback/")
    for _ in range(6):
        report(category=world.lamp, cell=world.n2)
        report(category=world.stall, cell=world.n3)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get("/cases/fallback/")
    assert len(response.context["rows"]) == 13
    assert response.content.decode().count('class="listed-assisting"') == 13


def test_a_correction_keeping_the_lead_attaches_the_new_categorys_assisting_departments(
    report, cast, world
):
    """A correction routes again (SPEC §3): the assist rules of the corrected category
    apply whether or not the lead changes."""
    Responsibility.objects.create(category=world.lamp, department=world.urban, role="lead")
    assist_rule(world.lamp, world.housing)
    case = report()  # rubbish: the urban department leads alone
    assert case.state == State.ASSIGNED and not case.assists.exists()
    correct_as_shown(case, actor=cast.dispatcher, category=world.lamp, cell=world.n1)
    assert case.lead_department == world.urban
    assert list(case.assists.values_list("department__code", flat=True)) == ["ZJ"]


def whistled_and_returned(report, cast, world):
    """A pool case whistled with housing summoned, then returned by its lead, urban."""
    case = report(category=world.stall, cell=world.n2)  # overlap: in the pool
    workflow.case_dispatch(
        case=case, actor=cast.dispatcher, lead=world.urban, assisting=[world.housing], whistle=True
    )
    workflow.case_return(case=case, actor=cast.liaison, reason="不属于城管")
    return case


def test_a_returned_cases_assisting_departments_are_offered_ticked_and_leave_when_unticked(
    client, cast, world, report
):
    """A dispatch names the case's assisting departments: the case and its timeline agree,
    and a department no longer named no longer sees the case or reports for duty."""
    from cases.selectors.access import cases_visible_to
    from tests.conftest import make_user

    housing_liaison = make_user("zj", "liaison", department=world.housing)
    case = whistled_and_returned(report, cast, world)
    client.force_login(cast.dispatcher)
    assert ticked(pool_page(client), f"assisting-{case.number}") == [world.housing.pk]
    response = case_page(client, case)
    assert ticked(response.content.decode(), "assisting") == [world.housing.pk]
    assert "On the case already: 住建局; unticked, a department leaves it." in (
        response.content.decode()
    )

    post_dispatch(client, case, lead=world.market.pk, comment="改由市场监管牵头，不再吹哨")
    case.refresh_from_db()
    assert (case.lead_department, list(case.assists.all())) == (world.market, [])
    assert not cases_visible_to(housing_liaison).filter(pk=case.pk).exists()
    dispatch = case.events.filter(action="dispatch").latest("at", "id")
    assert dispatch.data["assisting"] == []


def test_a_dispatch_keeping_a_summoned_department_without_a_whistle_ends_its_summons(
    client, cast, world, report
):
    case = whistled_and_returned(report, cast, world)
    client.force_login(cast.dispatcher)
    post_dispatch(client, case, lead=world.market.pk, assisting=[world.housing.pk])
    (assist,) = case.assists.all()
    assert (assist.department, assist.summoned, assist.report_due_at) == (
        world.housing,
        False,
        None,
    )


def test_an_arbitration_keeps_the_assisting_departments_on_the_case(cast, world, report):
    """The arbitration names the lead only: those assisting stay, as the audit row says."""
    from cases.services import arbitration

    case = whistled_and_returned(report, cast, world)
    workflow.case_dispatch(
        case=case, actor=cast.dispatcher, lead=world.market, assisting=[world.housing]
    )
    workflow.case_return(case=case, actor=cast.other_liaison, reason="也不属于市场监管")
    assert case.needs_arbitration
    arbitration.case_arbitrate(
        case=case, actor=cast.supervisor, lead=world.urban, reason="城管牵头"
    )
    assert [assist.department for assist in case.assists.all()] == [world.housing]
    dispatch = case.events.filter(action="dispatch").latest("at", "id")
    assert dispatch.data["assisting"] == [world.housing.pk]


def test_a_department_on_the_case_preselected_to_lead_stays_ticked_to_assist(
    client, cast, world, report
):
    """Market assisted; the router now suggests it alone to lead. Were it unticked, choosing
    another lead would take it off the case unnoticed; kept as lead, it simply leads."""
    case = report(category=world.stall, cell=world.n2)  # overlap: in the pool
    workflow.case_dispatch(
        case=case, actor=cast.dispatcher, lead=world.urban, assisting=[world.market]
    )
    workflow.case_return(case=case, actor=cast.liaison, reason="不属于城管")
    client.force_login(cast.dispatcher)
    form = dispatch_form_of(case_page(client, case))
    assert form["lead"].value() == world.market.pk
    assert ticked(case_page(client, case).content.decode(), "assisting") == [world.market.pk]

    kept_as_lead = post_dispatch(client, case, lead=world.market.pk, assisting=[world.market.pk])
    assert kept_as_lead.status_code == 302
    case.refresh_from_db()
    assert (case.state, case.lead_department, list(case.assists.all())) == (
        State.ASSIGNED,
        world.market,
        [],
    )
