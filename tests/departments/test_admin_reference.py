"""The administrators' admin of the reference data: grid, departments, categories, the
responsibility list, holidays and users."""

import json

import pytest
from django.urls import reverse

from departments.models import GridCell
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
