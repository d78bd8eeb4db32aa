"""The administrators' admin of the reference data: grid, departments, categories, the
responsibility list, holidays and users."""

import json
import re

import pytest
import time_machine
from django.urls import reverse

from departments.exporters import export_departments, export_grid
from departments.importers import plan_departments, plan_grid
from departments.models import Department, GridCell
from tests.conftest import square

MODELS = ["township", "gridcell", "department", "category", "responsibility", "holiday", "user"]


@pytest.mark.parametrize("model", MODELS)
def test_admin_lists_and_opens_the_add_page_of_every_reference_model(client, cast, model):
    client.force_login(cast.admin)
    assert client.get(reverse(f"admin:departments_{model}_changelist")).status_code == 200
    assert client.get(reverse(f"admin:departments_{model}_add")).status_code == 200


@pytest.mark.parametrize("model", MODELS)
def test_liaison_cannot_open_the_reference_data(client, cast, model):
    client.force_login(cast.liaison)
    assert client.get(reverse(f"admin:departments_{model}_changelist")).status_code == 403


def test_adding_a_grid_cell_stores_its_bounding_box(client, cast, world):
    client.force_login(cast.admin)
    response = client.post(
        reverse("admin:departments_gridcell_add"),
        {
            "code": "N-09",
            "name": "新网格",
            "township": world.north.pk,
            "community": "",
            "boundary": json.dumps(square(8, 2)),
        },
    )
    assert response.status_code == 302
    cell = GridCell.objects.get(code="N-09")
    assert (cell.min_lng, cell.min_lat) == pytest.approx((120.08, 30.02))
    assert (cell.max_lng, cell.max_lat) == pytest.approx((120.09, 30.03))


def test_a_grid_cell_with_a_self_crossing_boundary_is_refused(client, cast, world):
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    client.force_login(cast.admin)
    response = client.post(
        reverse("admin:departments_gridcell_add"),
        {"code": "N-10", "name": "x", "township": world.north.pk, "boundary": json.dumps(bowtie)},
    )
    assert response.status_code == 200
    assert "boundary" in response.context["adminform"].form.errors
    assert not GridCell.objects.filter(code="N-10").exists()


def test_grid_cell_page_embeds_its_polygon_for_the_map(client, cast, world):
    client.force_login(cast.admin)
    response = client.get(reverse("admin:departments_gridcell_change", args=[world.n1.pk]))
    data = response.context["cell_map"]
    assert data["cell"]["geometry"] == world.n1.boundary
    assert {f["properties"]["code"] for f in data["neighbours"]["features"]} == {"N-02", "N-03"}
    assert 'id="cell-map-data"' in response.text
    assert "admin-extra/cellmap.js" in response.text
    assert "<script>" not in response.text.replace('<script type="application/json"', "")


def test_holiday_list_and_admin_index_warn_about_a_year_the_calendar_does_not_know(client, cast):
    with time_machine.travel("2061-03-01 10:00 +0800"):
        client.force_login(cast.admin)
        holidays = client.get(reverse("admin:departments_holiday_changelist"), follow=True)
        index = client.get(reverse("admin:index"))
    assert "does not know the public holidays of 2061" in holidays.text
    assert "does not know the public holidays of 2061" in index.text


def test_the_admin_index_warning_leads_to_the_holiday_list(client, cast):
    # Read on the index, "add them here" pointed nowhere: the warning links to the list.
    with time_machine.travel("2061-03-01 10:00 +0800"):
        client.force_login(cast.admin)
        index = client.get(reverse("admin:index"))
    warnings = index.text.split('class="messagelist calendar-warnings"')[1].split("</ul>")[0]
    assert "does not know the public holidays of 2061" in warnings
    assert f'href="{reverse("admin:departments_holiday_changelist")}"' in warnings
    assert "days here" not in warnings


def test_the_holiday_list_says_how_few_days_a_year_begun_by_hand_has(client, cast):
    from datetime import date

    from departments.models import Holiday

    Holiday.objects.create(date=date(2061, 1, 1), kind=Holiday.Kind.HOLIDAY, name="元旦")
    with time_machine.travel("2061-03-01 10:00 +0800"):
        client.force_login(cast.admin)
        holidays = client.get(reverse("admin:departments_holiday_changelist"))
    assert "does not know the public holidays of 2061" not in holidays.text
    assert "except the 1 holiday or make-up working day entered here" in holidays.text


def test_only_those_who_keep_the_holidays_are_asked_to_add_them(client, cast):
    with time_machine.travel("2061-03-01 10:00 +0800"):
        client.force_login(cast.liaison)
        index = client.get(reverse("admin:index"))
    assert index.status_code == 200
    assert "does not know the public holidays of 2061" not in index.text


def test_no_calendar_warning_for_a_year_the_library_knows(client, cast):
    with time_machine.travel("2025-03-01 10:00 +0800"):
        client.force_login(cast.admin)
        holidays = client.get(reverse("admin:departments_holiday_changelist"))
    assert "does not know the public holidays of 2025" not in holidays.text


def test_admin_index_links_each_role_to_its_work_queues(client, cast):
    client.force_login(cast.admin)
    page = client.get(reverse("admin:index"))
    assert reverse("admin:cases_rule_suggestions") in page.text
    assert "?waiting=arbitration" in page.text
    client.force_login(cast.liaison)
    page = client.get(reverse("admin:index"))
    assert "?deadline=overdue" in page.text
    assert reverse("admin:cases_rule_suggestions") not in page.text
    # Greeted by name, not by username.
    assert f"<strong>{cast.liaison.full_name}</strong>" in page.text


def rule_form(world, **fields):
    return {
        "category": world.lamp.pk,
        "department": world.housing.pk,
        "township": "",
        "cell": "",
        "role": "lead",
        "basis": "",
        "valid_from": "",
        "valid_to": "",
        **fields,
    }


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"township": "N", "cell": "N-01"}, "not both: leave one of them empty"),
        ({"valid_from": "2026-12-01", "valid_to": "2026-11-01"}, "The rule ends before it starts"),
        ({"category": "STALL", "department": "CG"}, "already has a rule for this category"),
    ],
)
def test_a_rule_the_database_would_refuse_is_explained_in_plain_words(
    client, cast, world, fields, message
):
    by_code = {
        "N": world.north.pk,
        "N-01": world.n1.pk,
        "STALL": world.stall.pk,
        "CG": world.urban.pk,
    }
    fields = {name: by_code.get(value, value) for name, value in fields.items()}
    client.force_login(cast.admin)
    response = client.post(
        reverse("admin:departments_responsibility_add"), rule_form(world, **fields)
    )
    assert response.status_code == 200
    assert message in response.text
    assert "is violated" not in response.text


@pytest.mark.parametrize(
    ("page", "field", "fields", "described_by"),
    [
        (
            "departments_holiday_add",
            "date",
            {"date": "2026-02-30", "kind": "holiday", "name": "春节"},
            "id_date_error",
        ),
        (
            "departments_responsibility_add",
            "valid_to",
            {"valid_to": "next spring"},
            "id_valid_to_error",
        ),
        (
            "departments_holiday_add_run",
            "last",
            {"first": "2026-02-12", "last": "2026-02-08", "kind": "holiday", "name": "春节"},
            "id_last_helptext id_last_error",
        ),
    ],
)
def test_a_date_refused_in_the_admin_is_described_by_its_error(
    client, cast, world, page, field, fields, described_by
):
    """For a screen reader: Django 6.0's date picker points aria-describedby at a time
    zone warning alone, which exists only where the browser's zone differs from ours."""
    client.force_login(cast.admin)
    if page == "departments_responsibility_add":
        fields = rule_form(world, **fields)  # with its category and department
    response = client.post(reverse(f"admin:{page}"), fields)
    assert response.status_code == 200
    date_input = re.search(rf'<input [^>]*name="{field}"[^>]*>', response.text)[0]
    assert f'aria-describedby="{described_by}"' in date_input
    for described_by_id in described_by.split():
        assert f'id="{described_by_id}"' in response.text


def test_a_category_as_its_own_parent_is_explained_in_plain_words(client, cast, world):
    client.force_login(cast.admin)
    response = client.post(
        reverse("admin:departments_category_change", args=[world.lamp.pk]),
        {
            "code": "LAMP",
            "name": "路灯损坏",
            "name_en": "",
            "parent": world.lamp.pk,
            "accept_hours": "8",
            "resolve_days": "5",
        },
    )
    assert response.status_code == 200
    assert response.text.count("A category cannot be its own parent.") == 1
    world.lamp.refresh_from_db()
    assert world.lamp.parent is None


def category_form(category, parent):
    return {
        "code": category.code,
        "name": category.name,
        "name_en": "",
        "parent": parent.pk,
        "accept_hours": str(category.accept_hours),
        "resolve_days": str(category.resolve_days),
    }


def test_a_category_under_its_own_child_is_refused_naming_the_loop(client, cast, world):
    client.force_login(cast.admin)
    response = client.post(
        reverse("admin:departments_category_change", args=[world.environment.pk]),
        category_form(world.environment, parent=world.rubbish),
    )
    assert response.status_code == 200
    assert "“ENV” would be its own ancestor: ENV → ENV-RUBBISH → ENV." in response.text
    world.environment.refresh_from_db()
    assert world.environment.parent is None


def test_a_category_may_move_under_an_unrelated_one(client, cast, world):
    client.force_login(cast.admin)
    response = client.post(
        reverse("admin:departments_category_change", args=[world.environment.pk]),
        category_form(world.environment, parent=world.lamp),
    )
    assert response.status_code == 302
    world.environment.refresh_from_db()
    assert world.environment.parent == world.lamp


@pytest.mark.parametrize(
    ("model", "fields"),
    [
        ("township", {"name": "新街道"}),
        ("department", {"name": "城管局", "supervisor_emails": ""}),
        ("category", {"name": "新类别", "accept_hours": "4", "resolve_days": "2"}),
    ],
)
def test_a_code_the_import_would_refuse_is_refused_in_the_admin(client, cast, world, model, fields):
    # Its export would not import back.
    client.force_login(cast.admin)

    response = client.post(reverse(f"admin:departments_{model}_add"), {"code": "城管 局", **fields})

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["code"] == [
        "“城管 局” is not a code: begin with a Latin letter (A–Z) or a digit, then letters, "
        "digits, “-”, “_” or “.”."
    ]


def test_a_grid_cell_code_the_import_would_refuse_is_refused_in_the_admin(client, cast, world):
    client.force_login(cast.admin)
    response = client.post(
        reverse("admin:departments_gridcell_add"),
        {
            "code": "N 09",
            "name": "新网格",
            "township": world.north.pk,
            "boundary": json.dumps(square(8, 2)),
        },
    )
    assert response.status_code == 200
    assert "code" in response.context["adminform"].form.errors
    assert not GridCell.objects.filter(code="N 09").exists()


def test_supervisor_emails_are_checked_and_stored_as_the_import_stores_them(client, cast, world):
    client.force_login(cast.admin)
    url = reverse("admin:departments_department_add")
    fields = {"code": "HB", "name": "环保局"}

    refused = client.post(url, {**fields, "supervisor_emails": "a@example.org, b@example.org"})
    client.post(url, {**fields, "supervisor_emails": " a@example.org; b@example.org ;"})

    assert refused.context["adminform"].form.errors["supervisor_emails"] == [
        "“a@example.org, b@example.org” is not an email address: separate addresses with “;”."
    ]
    assert Department.objects.get(code="HB").supervisor_emails == "a@example.org;b@example.org"
    assert plan_departments(export_departments()).summary["unchanged"] == 4


@pytest.mark.parametrize(
    ("coordinates", "stored"),
    [
        # Integers and heights: the import reads them as [lng, lat] floats.
        ([[[120, 30, 5], [121, 30, 5], [121, 31, 5], [120, 30, 5]]], None),
        ([[[120, 30], [121, 30], [121, 31]]], "refused"),  # not closed
    ],
)
def test_a_boundary_is_kept_as_the_grid_import_reads_it(client, cast, world, coordinates, stored):
    client.force_login(cast.admin)
    boundary = {"type": "Polygon", "coordinates": coordinates}

    response = client.post(
        reverse("admin:departments_gridcell_add"),
        {
            "code": "N-09",
            "name": "新网格",
            "township": world.north.pk,
            "boundary": json.dumps(boundary),
        },
    )

    if stored == "refused":
        assert "boundary" in response.context["adminform"].form.errors
        assert not GridCell.objects.filter(code="N-09").exists()
        return
    assert response.status_code == 302
    assert GridCell.objects.get(code="N-09").boundary["coordinates"] == [
        [[120.0, 30.0], [121.0, 30.0], [121.0, 31.0], [120.0, 30.0]]
    ]
    assert plan_grid(export_grid()).summary["updated"] == 0


def test_a_code_taken_by_the_other_kind_of_scope_is_refused_in_the_admin(client, cast, world):
    # A rule's scope could not tell them apart, and the grid import refuses the export.
    client.force_login(cast.admin)

    township = client.post(
        reverse("admin:departments_township_add"), {"code": "N-01", "name": "新"}
    )
    cell = client.post(
        reverse("admin:departments_gridcell_add"),
        {
            "code": "S",
            "name": "新网格",
            "township": world.north.pk,
            "boundary": json.dumps(square(8, 2)),
        },
    )

    for response, code in ((township, "N-01"), (cell, "S")):
        assert response.context["adminform"].form.errors["code"] == [
            f"“{code}” is both a township and a grid cell code: rename one."
        ]
    assert plan_grid(export_grid()).errors == []


def test_the_holiday_list_says_which_hours_a_working_day_counts(client, cast, settings):
    from datetime import time

    settings.WORKING_HOURS = ((time(8, 30), time(12)), (time(14), time(17, 30)))
    client.force_login(cast.admin)
    holidays = client.get(reverse("admin:departments_holiday_changelist"))
    assert (
        "Deadlines count working time: 08:30–12:00, 14:00–17:30 (Asia/Shanghai) on working days."
        in holidays.text
    )


def test_the_holiday_list_speaks_of_the_calendar_after_a_bulk_delete_not_before(client, cast):
    # The notes were added on the action's POST too, before the entries went: the list
    # shown afterwards said "the 2 holidays … entered here" beside "the 1 holiday".
    from datetime import date

    from departments.models import Holiday

    kept = Holiday.objects.create(date=date(2061, 1, 1), kind=Holiday.Kind.HOLIDAY, name="元旦")
    gone = Holiday.objects.create(date=date(2061, 1, 2), kind=Holiday.Kind.HOLIDAY, name="元旦")
    with time_machine.travel("2061-03-01 10:00 +0800"):
        client.force_login(cast.admin)
        holidays = client.post(
            reverse("admin:departments_holiday_changelist"),
            {"action": "delete_selected", "_selected_action": [gone.pk], "post": "yes"},
            follow=True,
        )
    assert list(Holiday.objects.all()) == [kept]
    assert "except the 1 holiday or make-up working day entered here" in holidays.text
    assert "the 2 holidays and make-up working days entered here" not in holidays.text
