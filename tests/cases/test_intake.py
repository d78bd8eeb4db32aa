"""Reporting a case: numbering, placing and routing it, and refusing bad input whole."""

from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError

from cases.models import Case, CaseEvent, State
from cases.services.intake import allocate_case_numbers
from tests.conftest import BASE_LAT, BASE_LNG, centre_of


def test_case_numbers_count_up_within_the_local_year(report):
    first, second = report(), report()

    assert first.number.endswith("-000001")
    assert second.number.endswith("-000002")
    assert first.number[:4] == second.number[:4]


def test_case_numbers_start_again_in_a_new_local_year(report):
    # 16:30 UTC on 31 December is already the new year in Shanghai.
    late = datetime(2026, 12, 31, 16, 30, tzinfo=UTC)

    case = report(now=late)

    assert case.number == "2027-000001"


def test_a_block_of_numbers_is_reserved_in_one_step(db):
    assert list(allocate_case_numbers(year=2030, count=3)) == [1, 2, 3]
    assert list(allocate_case_numbers(year=2030, count=2)) == [4, 5]


def test_a_point_on_the_map_is_placed_in_its_cell_and_routed(report, world):
    lat, lng = centre_of(1)

    case = report(cell=None, lat=lat, lng=lng)

    assert case.cell == world.n2
    assert case.township == world.north
    assert case.state == State.ASSIGNED
    assert case.lead_department == world.urban


def test_a_point_outside_every_cell_goes_to_the_pool_as_outside_grid(report, world, cast):
    case = report(cell=None, lat=BASE_LAT - 1, lng=BASE_LNG - 1)

    assert case.state == State.FALLBACK
    assert case.fallback_reason == "outside_grid"
    assert case.township == cast.caseworker.township
    assert case.due_at is not None and case.deadline_kind == "dispatch"


def test_a_report_without_a_category_is_unclassified(report):
    case = report(category=None)

    assert (case.state, case.fallback_reason) == (State.FALLBACK, "unclassified")


def test_a_report_writes_a_report_row_and_a_route_row(report):
    case = report()

    assert list(case.events.values_list("action", "from_state", "to_state")) == [
        ("report", "", "reported"),
        ("route", "reported", "assigned"),
    ]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"description": "   "}, "description"),
        ({"lat": 30.0, "lng": None, "cell": None}, "lat"),
        ({"lat": 300.0, "lng": 120.0, "cell": None}, "lat"),
    ],
)
def test_bad_input_is_refused_with_the_field_named_and_nothing_saved(report, overrides, field):
    with pytest.raises(ValidationError) as refused:
        report(**overrides)

    assert field in refused.value.message_dict
    assert Case.objects.count() == 0
    assert CaseEvent.objects.count() == 0


def test_a_report_with_no_place_and_no_township_is_refused(db, world):
    from cases.services.intake import case_report

    with pytest.raises(ValidationError) as refused:
        case_report(reporter=None, category=world.rubbish, description="无位置", source="open311")

    assert "cell" in refused.value.message_dict
    assert Case.objects.count() == 0


def test_a_report_reads_the_routing_stamp_once_for_placing_routing_and_the_clock(report, world):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    lat, lng = centre_of(1)
    report(cell=None, lat=lat, lng=lng)  # warm the index
    with CaptureQueriesContext(connection) as captured:
        report(cell=None, lat=lat, lng=lng)

    stamp_reads = [q for q in captured.captured_queries if "departments_routingstamp" in q["sql"]]
    assert len(stamp_reads) == 1  # shared by the router's index and the working calendar
