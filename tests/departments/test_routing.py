"""The router of SPEC §3: specificity, ancestors, validity, assist rules and the four
fallback reasons."""

from datetime import date, timedelta

import pytest

from departments.models import GridCell, Responsibility
from departments.routing import FallbackReason, get_index, locate, route
from tests.conftest import BASE_LAT, BASE_LNG, STEP, centre_of

TODAY = date(2026, 11, 23)


def rule(category, department, *, role="lead", township=None, cell=None, **dates):
    return Responsibility.objects.create(
        category=category, department=department, role=role, township=township, cell=cell, **dates
    )


def decide(category, cell, on=TODAY):
    return route(
        category_id=category.pk if category else None, cell_id=cell.pk if cell else None, on=on
    )


def test_a_rule_for_an_ancestor_category_routes_its_subcategory(world):
    decision = decide(world.rubbish, world.n1)

    assert decision.lead_department_id == world.urban.pk
    assert decision.fallback_reason == ""


def test_the_exact_category_beats_its_parent_at_the_same_scope(world):
    rule(world.rubbish, world.housing)

    assert decide(world.rubbish, world.n1).lead_department_id == world.housing.pk
    assert decide(world.environment, world.n1).lead_department_id == world.urban.pk


def test_a_township_rule_beats_an_everywhere_rule(world):
    rule(world.environment, world.market, township=world.north)

    assert decide(world.rubbish, world.n1).lead_department_id == world.market.pk
    assert decide(world.rubbish, world.s1).lead_department_id == world.urban.pk


def test_a_cell_rule_beats_a_township_rule(world):
    rule(world.environment, world.market, township=world.north)
    rule(world.environment, world.housing, cell=world.n2)

    assert decide(world.rubbish, world.n2).lead_department_id == world.housing.pk
    assert decide(world.rubbish, world.n1).lead_department_id == world.market.pk


def test_scope_is_compared_before_category_depth(world):
    # A local arrangement for the parent overrides the general list for the child.
    rule(world.rubbish, world.housing)
    rule(world.environment, world.market, cell=world.n1)

    assert decide(world.rubbish, world.n1).lead_department_id == world.market.pk


def test_expired_and_future_rules_are_ignored(world):
    rule(world.lamp, world.housing, valid_to=TODAY - timedelta(days=1))
    rule(world.lamp, world.market, valid_from=TODAY + timedelta(days=1))

    decision = decide(world.lamp, world.n1)

    assert decision.lead_department_id is None
    assert decision.fallback_reason == FallbackReason.NO_RULE


def test_a_rule_is_active_on_the_first_and_last_day_of_its_validity(world):
    rule(world.lamp, world.housing, valid_from=TODAY, valid_to=TODAY)

    assert decide(world.lamp, world.n1).lead_department_id == world.housing.pk
    assert decide(world.lamp, world.n1, on=TODAY + timedelta(days=1)).lead_department_id is None


def test_assist_rules_attach_assisting_departments_but_never_lead(world):
    rule(world.environment, world.housing, role="assist")
    rule(world.lamp, world.market, role="assist")

    rubbish = decide(world.rubbish, world.n1)
    lamp = decide(world.lamp, world.n1)

    assert rubbish.lead_department_id == world.urban.pk
    assert rubbish.assisting_department_ids == (world.housing.pk,)
    assert lamp.fallback_reason == FallbackReason.NO_RULE


def listed(category, cell, on=TODAY):
    return get_index().assisting(
        category_id=category.pk if category else None, cell_id=cell.pk if cell else None, on=on
    )


def test_the_router_names_the_assist_rules_of_a_case_it_cannot_route(world):
    rule(world.stall, world.housing, role="assist", township=world.north)
    rule(world.environment, world.market, role="assist", cell=world.n1)

    assert decide(world.stall, world.n1).fallback_reason == FallbackReason.OVERLAP
    assert listed(world.stall, world.n1) == (world.housing.pk,)
    assert listed(world.stall, world.s1) == ()
    # An ancestor's rule, in its own cell only; the lead a routed case has is not left out.
    rule(world.rubbish, world.urban, role="assist")
    assert listed(world.rubbish, world.n1) == tuple(sorted((world.market.pk, world.urban.pk)))
    assert listed(world.rubbish, world.n2) == (world.urban.pk,)
    assert decide(world.rubbish, world.n1).assisting_department_ids == (world.market.pk,)


def test_the_router_names_no_assist_rule_out_of_its_dates_or_without_a_category_or_cell(world):
    rule(world.lamp, world.housing, role="assist", valid_to=TODAY - timedelta(days=1))
    rule(world.lamp, world.market, role="assist", valid_from=TODAY + timedelta(days=1))
    rule(world.stall, world.housing, role="assist")

    assert listed(world.lamp, world.n1) == ()
    assert listed(world.lamp, world.n1, on=TODAY + timedelta(days=1)) == (world.market.pk,)
    assert listed(None, world.n1) == ()
    assert listed(world.stall, None) == ()


def test_two_lead_rules_at_the_winning_level_are_an_overlap_with_candidates(world):
    decision = decide(world.stall, world.n1)

    assert decision.lead_department_id is None
    assert decision.fallback_reason == FallbackReason.OVERLAP
    assert set(decision.candidate_department_ids) == {world.urban.pk, world.market.pk}


def test_a_more_specific_single_lead_settles_an_overlap(world):
    rule(world.stall, world.market, township=world.north)

    assert decide(world.stall, world.n1).lead_department_id == world.market.pk
    assert decide(world.stall, world.s1).fallback_reason == FallbackReason.OVERLAP


def test_no_category_is_unclassified(world):
    assert decide(None, world.n1).fallback_reason == FallbackReason.UNCLASSIFIED


def test_no_cell_is_outside_grid(world):
    assert decide(world.rubbish, None).fallback_reason == FallbackReason.OUTSIDE_GRID


def test_a_point_is_located_in_the_cell_that_contains_it(world):
    lat, lng = centre_of(1)

    assert locate(lng, lat) == world.n2.pk


def test_a_point_outside_every_cell_is_located_nowhere(world):
    assert locate(BASE_LNG - 1, BASE_LAT - 1) is None


def test_a_point_on_a_shared_edge_goes_to_the_lower_code(world):
    assert locate(BASE_LNG + STEP, BASE_LAT + STEP / 2) == world.n1.pk


def test_the_nearest_township_owns_a_point_outside_the_grid(world):
    index = get_index()

    assert index.nearest_township_id(BASE_LNG + 5.9 * STEP, BASE_LAT + 3 * STEP) == world.south.pk
    assert index.nearest_township_id(BASE_LNG - STEP, BASE_LAT) == world.north.pk


def test_the_router_sees_a_new_rule_at_once(world):
    assert decide(world.lamp, world.n1).fallback_reason == FallbackReason.NO_RULE

    rule(world.lamp, world.housing)

    assert decide(world.lamp, world.n1).lead_department_id == world.housing.pk


def test_the_router_sees_a_new_cell_at_once(world):
    lat, lng = centre_of(4)
    assert locate(lng, lat) is None

    from tests.conftest import make_cell

    cell = make_cell("N-05", world.north, 4)

    assert locate(lng, lat) == cell.pk


def test_routing_a_case_costs_one_query_once_the_index_is_loaded(world, django_assert_num_queries):
    get_index()

    for cell in (world.n1, world.n2, world.s1):
        with django_assert_num_queries(1):  # the routing stamp; no cells, no rules
            decide(world.rubbish, cell)


@pytest.mark.parametrize("points", [500])
def test_locating_many_points_agrees_with_locating_one_at_a_time(world, points):
    import random

    rng = random.Random(7)
    lngs = [BASE_LNG + rng.uniform(-STEP, 7 * STEP) for _ in range(points)]
    lats = [BASE_LAT + rng.uniform(-STEP, 2 * STEP) for _ in range(points)]
    index = get_index()

    assert index.locate_many(lngs, lats) == [
        index.locate(x, y) for x, y in zip(lngs, lats, strict=True)
    ]
    assert GridCell.objects.count() == 4
