"""The data flywheel: closed fallback cases suggest responsibility rules; an administrator
accepts one (the rule is created, citing the cases) or dismisses it (remembered)."""

import importlib
from collections import Counter
from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.apps import apps as django_apps
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from cases.models import Case, RuleSuggestionDismissal, State
from cases.selectors import lead_hints
from cases.services import arbitration, flywheel, workflow
from cases.services.transitions import WorkflowError
from departments.models import Category, Responsibility
from departments.routing import get_index
from tests.cases.flywheel_support import (
    chosen_by_the_audit_trail,
    disagreements,
    stored_verdicts,
)
from tests.cases.test_i18n import compiled_catalogue  # noqa: F401 (a fixture)
from tests.conftest import correct_as_shown


@pytest.fixture
def close_via_pool(report, cast, world):
    """A stall case (two lead rules: fallback) dispatched, handled and closed."""
    liaisons = {world.urban.pk: cast.liaison, world.market.pk: cast.other_liaison}

    def _close(department, cell=None):
        case = report(category=world.stall, cell=cell or world.n1, description="占道经营")
        workflow.case_dispatch(case=case, actor=cast.dispatcher, lead=department)
        liaison = liaisons[department.pk]
        workflow.case_accept(case=case, actor=liaison)
        workflow.case_resolve(case=case, actor=liaison, note="已劝离")
        workflow.case_verify(case=case, actor=cast.caseworker)
        return case

    return _close


@pytest.fixture
def evidence(close_via_pool, world):
    cases = [close_via_pool(world.market) for _ in range(3)]
    cases.append(close_via_pool(world.urban, cell=world.n2))
    return cases


def suggestion_for(suggestions, cell=None, township=None):
    return next(
        s for s in suggestions if s.cell == cell and (township is None or s.township == township)
    )


def test_suggestions_count_who_handled_closed_fallback_cases(evidence, world):
    suggestions = flywheel.rule_suggestions()
    cell_level = suggestion_for(suggestions, cell=world.n1)
    assert (cell_level.category, cell_level.department) == (world.stall, world.market)
    assert (cell_level.count, cell_level.total) == (3, 3)
    assert set(cell_level.numbers) == {case.number for case in evidence[:3]}
    township_level = next(s for s in suggestions if s.township == world.north)
    assert (township_level.department, township_level.count, township_level.total) == (
        world.market,
        3,
        4,
    )


def test_evidence_lists_the_oldest_cases_and_the_count_all_of_them(evidence, world, monkeypatch):
    monkeypatch.setattr(flywheel, "EVIDENCE_LIMIT", 2)
    suggestions = flywheel.rule_suggestions()
    oldest = [case.number for case in evidence[:2]]
    cell_level = suggestion_for(suggestions, cell=world.n1)
    assert (cell_level.count, cell_level.numbers) == (3, oldest)
    township_level = next(s for s in suggestions if s.township == world.north)
    assert (township_level.count, township_level.total, township_level.numbers) == (
        3,
        4,
        oldest,
    )


def test_each_level_counts_the_cases_of_its_own_place(evidence, world):
    """A case keeps its township when a grid import moves its cell to another one: the
    cell's level counts it, its township's level does not count it for the cell's new
    township."""
    Case.objects.filter(pk=evidence[0].pk).update(township=world.south)
    suggestions = flywheel.rule_suggestions()
    cell_level = suggestion_for(suggestions, cell=world.n1)
    assert (cell_level.count, cell_level.total) == (3, 3)
    # The north now has two of the market's cases (of three), the south one: too few for
    # a rule in either.
    assert not [s for s in suggestions if s.township in (world.north, world.south)]


def test_too_little_evidence_suggests_nothing(close_via_pool, world):
    close_via_pool(world.market)
    close_via_pool(world.market)
    assert flywheel.rule_suggestions() == []


def test_open_and_directly_routed_cases_are_not_evidence(report, cast, world):
    for _ in range(3):
        case = report(category=world.stall, cell=world.n1, description="未结案")
        workflow.case_dispatch(case=case, actor=cast.dispatcher, lead=world.market)
    for _ in range(3):
        case = report(description="直接派单")
        workflow.case_accept(case=case, actor=cast.liaison)
        workflow.case_resolve(case=case, actor=cast.liaison, note="好了")
        workflow.case_verify(case=case, actor=cast.caseworker)
    assert flywheel.rule_suggestions() == []


def test_cases_the_router_led_after_a_correction_are_not_evidence(report, cast, world):

    for _ in range(3):
        case = report(category=None)  # unclassified: in the pool
        # The dispatcher names the category; the list names the lead (urban management).
        correct_as_shown(case, actor=cast.dispatcher, category=world.rubbish, cell=world.n1)
        workflow.case_accept(case=case, actor=cast.liaison)
        workflow.case_resolve(case=case, actor=cast.liaison, note="已清理")
        workflow.case_verify(case=case, actor=cast.caseworker)
    assert case.lead_department == world.urban
    assert flywheel.rule_suggestions() == []
    assert lead_hints.lead_hint(category_id=world.rubbish.pk, township_id=world.north.pk) is None


def test_cases_outside_every_cell_suggest_no_township_rule(report, cast, world):
    for _ in range(3):
        case = report(cell=None, lat=10.0, lng=10.0)  # outside the grid: the north's pool
        assert case.fallback_reason == "outside_grid"
        workflow.case_dispatch(case=case, actor=cast.dispatcher, lead=world.market)
        workflow.case_accept(case=case, actor=cast.other_liaison)
        workflow.case_resolve(case=case, actor=cast.other_liaison, note="已清理")
        workflow.case_verify(case=case, actor=cast.caseworker)
    # A rule could not route such a case, and would send the north's rubbish in its cells,
    # which the list gives urban management, to market regulation.
    assert flywheel.rule_suggestions() == []


def test_suggestions_are_aggregated_in_a_fixed_number_of_queries(
    evidence, close_via_pool, world, django_assert_max_num_queries
):
    for _ in range(3):
        close_via_pool(world.urban, cell=world.n3)
    # One scan of the dispatched cases for both levels and the evidence, the rules and
    # dismissals already there, the names, the routing stamp and the rules each would
    # replace.
    with django_assert_max_num_queries(8) as captured:
        suggestions = flywheel.rule_suggestions()
    assert len(suggestions) >= 2
    # One scan of the closed cases a dispatcher chose the lead of (the stored verdict and
    # its partial index): at a district's scale that, not the number of queries, is the cost.
    case_scans = [q["sql"] for q in captured.captured_queries if '"cases_case"' in q["sql"]]
    assert len(case_scans) == 1


def test_accepting_a_suggestion_creates_the_rule_citing_the_cases(
    client,
    cast,
    evidence,
    world,
    report,
    compiled_catalogue,  # noqa: F811
):
    suggestion = suggestion_for(flywheel.rule_suggestions(), cell=world.n1)
    waiting = report(category=world.stall, cell=world.n1)
    assert waiting.state == State.FALLBACK
    client.force_login(cast.admin)
    page = client.get(reverse("admin:cases_rule_suggestions"))
    assert page.status_code == 200
    assert evidence[0].number in page.text
    accepted = client.post(
        reverse("admin:cases_rule_suggestions"),
        {"key": suggestion.key, "decision": "accept"},
        HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9",
        follow=True,
    )
    # Said in words, not as the rule's codes with an English "lead" in them.
    assert [str(m) for m in accepted.context["messages"]] == [
        f"已采纳建议：自今日起，{world.n1} 的类别 {world.stall} 由 {world.market.name}"
        " 牵头。此后上报的此类案件将直接分拨给该部门；已在兜底池中的案件仍由调度员分拨。"
    ]
    # As the message says: the case reported before the rule waits for a dispatcher.
    waiting.refresh_from_db()
    assert (waiting.state, waiting.lead_department) == (State.FALLBACK, None)
    rule = Responsibility.objects.get(category=world.stall, cell=world.n1)
    assert (rule.department, rule.role) == (world.market, "lead")
    assert all(case.number in rule.basis for case in evidence[:3])
    # The next such case routes itself.
    assert suggestion.key not in {s.key for s in flywheel.rule_suggestions()}
    decision = get_index().route(
        category_id=world.stall.pk, cell_id=world.n1.pk, on=timezone.localdate()
    )
    assert decision.lead_department_id == world.market.pk
    assert report(category=world.stall, cell=world.n1).lead_department == world.market


def test_accepting_a_suggestion_ends_the_rule_of_another_lead_in_that_place(
    client, cast, evidence, world, report
):
    # Added after those cases: the north's stall cases now go to the urban department.
    old = Responsibility.objects.create(
        category=world.stall, department=world.urban, township=world.north, role="lead"
    )
    suggestion = next(s for s in flywheel.rule_suggestions() if s.township == world.north)
    assert suggestion.department == world.market and suggestion.replaces == [old]
    client.force_login(cast.admin)
    page = client.get(reverse("admin:cases_rule_suggestions"))
    assert "Accepting ends, as of yesterday, the lead rule of:" in page.text

    client.post(
        reverse("admin:cases_rule_suggestions"), {"key": suggestion.key, "decision": "accept"}
    )
    old.refresh_from_db()
    assert old.valid_to == timezone.localdate() - timedelta(days=1)
    new = Responsibility.objects.get(category=world.stall, township=world.north, valid_to=None)
    assert new.department == world.market and world.urban.name in new.basis
    # Not an overlap of the two: the next stall case in the north routes itself.
    assert report(category=world.stall, cell=world.n3).lead_department == world.market


def test_a_rule_of_another_lead_that_starts_later_is_not_said_to_end_as_of_yesterday(
    client, cast, evidence, world
):
    """The page said accepting would end, as of yesterday, a rule that starts tomorrow, and
    offered "Accept", which could only be refused: the rule must be changed by hand."""
    tomorrow = timezone.localdate() + timedelta(days=1)
    Responsibility.objects.create(
        category=world.stall,
        department=world.urban,
        township=world.north,
        role="lead",
        valid_from=tomorrow,
    )
    suggestion = next(s for s in flywheel.rule_suggestions() if s.township == world.north)
    client.force_login(cast.admin)
    page = client.get(reverse("admin:cases_rule_suggestions")).text
    row = page[page.index(f'id="suggestion-{suggestion.key}"') :]
    row = row[: row.index("</tr>")]
    assert "Accepting ends, as of yesterday" not in row
    assert (
        f"The rule of {world.urban.name} for this category and place starts on"
        f" {date_format(tomorrow)}: change it in the responsibility list first."
    ) in row
    assert 'value="accept"' not in row and 'value="dismiss"' in row
    with pytest.raises(WorkflowError):
        flywheel.rule_suggestion_accept(key=suggestion.key, actor=cast.admin)


def test_an_overlap_of_the_places_own_lead_rules_is_suggested_away(
    cast, world, close_via_pool, report
):
    """The township's list names both departments: the dispatchers' choice keeps its rule,
    and accepting ends the other's, as it would end it beside a new rule."""
    kept, other = (
        Responsibility.objects.create(
            category=world.stall, department=department, township=world.north, role="lead"
        )
        for department in (world.market, world.urban)
    )
    # One case a cell: too few for any cell's rule, enough for the township's.
    evidence = [close_via_pool(world.market, cell=cell) for cell in (world.n1, world.n2, world.n3)]
    [suggestion] = flywheel.rule_suggestions()
    assert (suggestion.township, suggestion.department) == (world.north, world.market)
    assert suggestion.replaces == [other]

    flywheel.rule_suggestion_accept(key=suggestion.key, actor=cast.admin)
    kept.refresh_from_db()
    other.refresh_from_db()
    assert other.valid_to == timezone.localdate() - timedelta(days=1)
    assert (kept.valid_from, kept.valid_to) == (None, None)
    assert all(case.number in kept.basis for case in evidence)
    assert Responsibility.objects.filter(category=world.stall, township=world.north).count() == 2
    assert report(category=world.stall, cell=world.n3).lead_department == world.market
    assert flywheel.rule_suggestions() == []


def test_an_expired_lead_rule_of_the_department_is_not_suggested_again(cast, world, close_via_pool):
    """Its row holds the key a new rule would take: the list is changed by hand."""
    Responsibility.objects.create(
        category=world.stall,
        department=world.market,
        township=world.north,
        role="lead",
        valid_to=timezone.localdate() - timedelta(days=1),
    )
    for cell in (world.n1, world.n2, world.n3):
        close_via_pool(world.market, cell=cell)
    assert flywheel.rule_suggestions() == []


def general_cases_dispatched_to_market_regulation(cast, world, report):
    """The north's general environment cases (two leads: the pool) dispatched to market
    regulation, one a cell, where the list gives rubbish to urban management; the
    township's suggestion that follows."""
    Responsibility.objects.filter(category=world.environment).delete()
    for department in (world.urban, world.housing):
        Responsibility.objects.create(
            category=world.environment, department=department, role="lead"
        )
    Responsibility.objects.create(category=world.rubbish, department=world.urban, role="lead")
    for cell in (world.n1, world.n2, world.n3):  # one a cell: the township's level only
        case = report(category=world.environment, cell=cell, description="环境问题")
        assert case.fallback_reason == "overlap"
        workflow.case_dispatch(case=case, actor=cast.dispatcher, lead=world.market)
        workflow.case_accept(case=case, actor=cast.other_liaison)
        workflow.case_resolve(case=case, actor=cast.other_liaison, note="已处理")
        workflow.case_verify(case=case, actor=cast.caseworker)
    assert report(category=world.rubbish, cell=world.n2).lead_department == world.urban
    [suggestion] = flywheel.rule_suggestions()
    return suggestion


def test_a_rule_for_a_broad_category_says_which_subcategories_it_takes_from_their_lead(
    client,
    cast,
    world,
    report,
    compiled_catalogue,  # noqa: F811
):
    """A township's rule for a parent category outranks the list's rules for its
    subcategories everywhere (SPEC §3: the scope first): accepting one for general
    environment cases moved the township's rubbish, which the list gives urban management,
    to market regulation, and the page had said nothing of it."""
    suggestion = general_cases_dispatched_to_market_regulation(cast, world, report)
    assert (suggestion.category, suggestion.township) == (world.environment, world.north)
    assert suggestion.reroutes == [(world.rubbish, world.urban)]
    client.force_login(cast.admin)
    page = client.get(reverse("admin:cases_rule_suggestions")).text
    assert (
        f"Accepting also gives {world.market.name} these subcategories here, which the"
        f" list gives another department: <strong>{world.rubbish}</strong> (now"
        f" {world.urban.name})"
    ) in page
    chinese = client.get(reverse("admin:cases_rule_suggestions"), HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert (
        f"采纳后，此处以下子类别也将改由{world.market.name}牵头（责任清单目前指定其他部门）："
        f" <strong>{world.rubbish}</strong> （现由{world.urban.name}牵头）"
    ) in chinese.text
    # What it said: the north's rubbish now goes to market regulation.
    flywheel.rule_suggestion_accept(key=suggestion.key, actor=cast.admin)
    assert report(category=world.rubbish, cell=world.n2).lead_department == world.market
    assert report(category=world.rubbish, cell=world.s1).lead_department == world.urban


def test_cells_with_rules_of_their_own_are_each_looked_at(cast, world, report):
    """A township's cells route a category alike but for those with rules of their own,
    which are looked at one by one: here every cell has one, and only N-02's has ended."""
    yesterday = timezone.localdate() - timedelta(days=1)
    for cell, valid_to in ((world.n1, None), (world.n2, yesterday), (world.n3, None)):
        Responsibility.objects.create(
            category=world.rubbish,
            department=world.housing,
            cell=cell,
            role="lead" if cell != world.n3 else "assist",
            valid_to=valid_to,
        )
    suggestion = general_cases_dispatched_to_market_regulation(cast, world, report)
    # N-01's own rule keeps its rubbish with housing; in N-02 and N-03 (an assist rule
    # only) the district's rule gives it to urban management, which the new rule outranks.
    assert suggestion.reroutes == [(world.rubbish, world.urban)]
    for rule in Responsibility.objects.filter(cell__in=[world.n2, world.n3]):
        rule.role, rule.valid_to = "lead", None
        rule.save()  # as the admin saves it: the router reloads
    [suggestion] = flywheel.rule_suggestions()
    assert suggestion.reroutes == []


def test_a_subcategory_with_a_rule_of_its_own_here_is_not_said_to_move(cast, world, close_via_pool):
    """The township's own rule for the subcategory outranks the parent's: nothing moves."""
    child = Category.objects.create(
        code="STALL-NIGHT", name="夜市占道", parent=world.stall, accept_hours=2, resolve_days=1
    )
    Responsibility.objects.create(
        category=child, department=world.urban, township=world.north, role="lead"
    )
    other = Category.objects.create(
        code="STALL-FAIR", name="集市占道", parent=world.stall, accept_hours=2, resolve_days=1
    )
    Responsibility.objects.create(category=other, department=world.market, role="lead")
    for cell in (world.n1, world.n2, world.n3):
        close_via_pool(world.market, cell=cell)
    [suggestion] = flywheel.rule_suggestions()
    # Not the night market (the north's rule), nor the fair (market regulation already).
    assert suggestion.reroutes == []


def test_once_the_townships_rule_is_accepted_its_cells_are_not_suggested_the_same(
    cast, evidence, world
):
    suggestion = next(s for s in flywheel.rule_suggestions() if s.township == world.north)
    flywheel.rule_suggestion_accept(key=suggestion.key, actor=cast.admin)
    # The north's stall cases route to market regulation: a rule for N-01 would say it again.
    assert flywheel.rule_suggestions() == []


def test_a_dismissed_suggestion_is_not_offered_again(client, cast, evidence, world):
    suggestion = suggestion_for(flywheel.rule_suggestions(), cell=world.n1)
    client.force_login(cast.admin)
    client.post(
        reverse("admin:cases_rule_suggestions"),
        {"key": suggestion.key, "decision": "dismiss", "note": "临时情况"},
    )
    dismissal = RuleSuggestionDismissal.objects.get()
    assert (dismissal.cell, dismissal.department, dismissal.dismissed_by) == (
        world.n1,
        world.market,
        cast.admin,
    )
    assert suggestion.key not in {s.key for s in flywheel.rule_suggestions()}
    assert not Responsibility.objects.filter(cell=world.n1).exists()


def test_only_administrators_curate_suggestions(client, cast, evidence, world):
    suggestion = suggestion_for(flywheel.rule_suggestions(), cell=world.n1)
    with pytest.raises(WorkflowError):
        flywheel.rule_suggestion_accept(key=suggestion.key, actor=cast.dispatcher)
    client.force_login(cast.liaison)
    assert client.get(reverse("admin:cases_rule_suggestions")).status_code == 403
    response = client.post(
        reverse("admin:cases_rule_suggestions"), {"key": suggestion.key, "decision": "accept"}
    )
    assert response.status_code == 403
    assert not Responsibility.objects.filter(cell=world.n1).exists()


def test_evidence_link_lists_the_cases_in_the_admin(client, cast, evidence, world):
    client.force_login(cast.admin)
    page = client.get(reverse("admin:cases_rule_suggestions"))
    suggestion = suggestion_for(page.context["suggestions"], cell=world.n1)
    response = client.get(suggestion.evidence_url)
    assert set(response.context["cl"].result_list) == set(evidence[:3])


def test_a_dispatch_hint_needs_two_agreeing_closed_cases_of_the_township(close_via_pool, world):
    def hint(**extra):
        return lead_hints.lead_hint(category_id=world.stall.pk, township_id=world.north.pk, **extra)

    close_via_pool(world.market)
    assert hint() is None  # one past decision is not yet a pattern
    close_via_pool(world.market, cell=world.n2)
    found = hint()
    assert (found.department, found.count, found.total) == (world.market, 2, 2)
    assert lead_hints.lead_hint(category_id=world.stall.pk, township_id=world.south.pk) is None
    # Not the department that sent this very case back.
    assert hint(exclude=frozenset({world.market.pk})) is None
    close_via_pool(world.urban)
    assert hint() is not None  # 2 of 3
    close_via_pool(world.urban)
    assert hint() is None  # 2 of 4: the township's dispatchers disagree
    assert lead_hints.lead_hint(category_id=None, township_id=world.north.pk) is None
    # A year on, those decisions no longer count.
    with time_machine.travel(timezone.now() + lead_hints.HINT_WINDOW + timedelta(days=1)):
        close_via_pool(world.market)
        close_via_pool(world.market)
        found = hint()
    assert (found.department, found.count, found.total) == (world.market, 2, 2)


# -- the stored verdict: Case.lead_chosen_in_pool -----------------------------------------


def verdict(case) -> bool:
    """The case's stored verdict, checked against the audit trail's."""
    stored = Case.objects.values_list("lead_chosen_in_pool", flat=True).get(pk=case.pk)
    assert stored == chosen_by_the_audit_trail()[case.pk], case.number
    return stored


def test_a_case_the_list_routes_at_intake_was_not_chosen_in_the_pool(report, world):
    assert report().lead_department == world.urban
    assert report(category=world.stall).state == State.FALLBACK
    assert not any(stored_verdicts().values())


def test_a_dispatch_marks_the_lead_chosen_and_a_return_unmarks_it(report, cast, world):
    case = report(category=world.stall)
    workflow.case_dispatch(case=case, actor=cast.dispatcher, lead=world.market, whistle=True)
    assert verdict(case) is True
    workflow.case_return(case=case, actor=cast.other_liaison, reason="不属于市场监管")
    assert verdict(case) is False
    workflow.case_dispatch(case=case, actor=cast.dispatcher, lead=world.urban)
    assert verdict(case) is True


def test_a_supervisors_arbitration_marks_the_lead_chosen(disputed, cast, world):
    assert verdict(disputed) is False
    arbitration.case_arbitrate(
        case=disputed, actor=cast.supervisor, lead=world.housing, reason="住建负责小区垃圾"
    )
    assert verdict(disputed) is True


@pytest.mark.parametrize(
    ("lead", "category", "outcome"),
    [
        ("market", "rubbish", "the list names another lead"),
        ("urban", "rubbish", "the list names the same lead"),
        ("market", "lamp", "no rule: back to the pool"),
    ],
)
def test_a_correction_unmarks_a_dispatched_lead(report, cast, world, lead, category, outcome):
    case = report(category=world.stall)
    workflow.case_dispatch(case=case, actor=cast.dispatcher, lead=getattr(world, lead))
    assert verdict(case) is True
    correct_as_shown(
        case,
        actor=cast.dispatcher,
        category=getattr(world, category),
        cell=case.cell,
    )
    assert verdict(case) is False, outcome


def test_the_dispatch_a_correction_fires_is_the_routers_not_a_choice(report, cast, world):
    case = report(category=None)
    correct_as_shown(case, actor=cast.dispatcher, category=world.rubbish, cell=world.n1)
    assert case.state == State.ASSIGNED
    assert verdict(case) is False


@pytest.mark.django_db
def test_every_seeded_case_stores_the_verdict_of_its_audit_trail():
    call_command("seed_demo", "--cases", "300", "--seed", "7", stdout=StringIO())
    assert Case.objects.count() == 300
    assert disagreements() == []
    verdicts = Counter(stored_verdicts().values())
    assert verdicts[True] and verdicts[False]
    assert lead_hints.dispatched_closed_cases().exists()


def fill_from_the_audit_trail():
    migration = importlib.import_module("cases.migrations.0028_case_lead_chosen_in_pool")
    migration.from_the_audit_trail(django_apps, None)


def test_the_migration_gives_existing_cases_the_verdict_of_their_audit_trail(
    report, cast, world, disputed
):
    call_command("seed_demo", "--cases", "100", "--seed", "3", stdout=StringIO())
    arbitration.case_arbitrate(
        case=disputed, actor=cast.supervisor, lead=world.urban, reason="依据属地管理原则"
    )
    corrected = report(category=world.stall)
    workflow.case_dispatch(case=corrected, actor=cast.dispatcher, lead=world.urban)
    correct_as_shown(corrected, actor=cast.dispatcher, category=world.rubbish, cell=world.n1)
    rerouted = report(category=None)
    correct_as_shown(rerouted, actor=cast.dispatcher, category=world.rubbish, cell=world.n1)
    stored = stored_verdicts()
    Case.objects.update(lead_chosen_in_pool=False)
    fill_from_the_audit_trail()
    assert stored_verdicts() == stored
    assert disagreements() == []
    assert stored[disputed.pk] is True
    assert stored[corrected.pk] is False and stored[rerouted.pk] is False
