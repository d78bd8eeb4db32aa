"""A malformed boundary in the admin's grid-cell form is a form error in the user's
language, never a 500; the grid import reads the same text the same way."""

import pytest
from django.urls import reverse
from django.utils import translation

from departments.importers import plan_grid
from departments.models import GridCell
from tests.cases.test_i18n import compiled_catalogue  # noqa: F401 (a fixture)


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def _polygon(lng: str) -> str:
    ring = f"[[{lng}, 30], [121, 30], [121, 31], [{lng}, 30]]"
    return '{"type": "Polygon", "coordinates": [' + ring + "]}"


MALFORMED = {
    "arrays 100,000 deep": _nested(100_000),
    "coordinates 100,000 deep": '{"type": "Polygon", "coordinates": ' + _nested(100_000) + "}",
    "a type 5,000 deep": '{"type": ' + _nested(5000) + "}",
    "a longitude of 401 digits": _polygon("1" + "0" * 400),
    "a longitude of 5,001 digits": _polygon("1" + "0" * 5000),
}


def _post(client, world, boundary, **headers):
    return client.post(
        reverse("admin:departments_gridcell_add"),
        {"code": "N-09", "name": "新网格", "township": world.north.pk, "boundary": boundary},
        **headers,
    )


@pytest.mark.parametrize("boundary", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_boundary_is_a_form_error_not_a_500(client, cast, world, boundary):
    client.force_login(cast.admin)

    response = _post(client, world, boundary)

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["boundary"]
    assert not GridCell.objects.filter(code="N-09").exists()


def test_a_boundary_nested_too_deeply_is_refused_in_chinese_for_a_chinese_admin(
    client,
    cast,
    world,
    compiled_catalogue,  # noqa: F811
):
    client.force_login(cast.admin)

    response = _post(
        client, world, MALFORMED["arrays 100,000 deep"], HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9"
    )

    with translation.override("zh-hans"):
        expected = translation.gettext("is nested far too deeply to be a Polygon or MultiPolygon.")
    assert expected != "is nested far too deeply to be a Polygon or MultiPolygon."
    assert response.context["adminform"].form.errors["boundary"] == [expected]
    # The text as typed comes back in the field, to be corrected.
    assert response.context["adminform"].form["boundary"].value().startswith("[[[")


def test_the_grid_import_names_a_number_of_thousands_of_digits(world):
    feature = (
        '{"type": "Feature", "properties": {"code": "N-09", "name": "x", "township_code": "N",'
        ' "township_name": "北"}, "geometry": %s}'
    )
    for lng in ("1" + "0" * 400, "1" + "0" * 5000):
        document = '{"type": "FeatureCollection", "features": [%s]}' % (feature % _polygon(lng))

        plan = plan_grid(document)

        assert plan.errors, lng
