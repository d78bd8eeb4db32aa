"""A grid cell given to another township (a grid import, the admin) takes its open cases
with it; closed and cancelled ones stay where they were worked."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Sum
from django.urls import reverse

from cases.models import Case, DailyFigures, State
from cases.services import workflow
from cases.services.figures import figures_refresh
from departments.importers import apply, plan_grid


def grid_giving(cell, township) -> str:
    feature = {
        "type": "Feature",
        "properties": {
            "code": cell.code,
            "name": cell.name,
            "township_code": township.code,
            "township_name": township.name,
        },
        "geometry": cell.boundary,
    }
    return json.dumps({"type": "FeatureCollection", "features": [feature]}, ensure_ascii=False)


@pytest.fixture
def cases_of_n1(report, cast, world):
    pooled = report(category=None, description="分类不明")
    assigned = report(description="垃圾堆放")
    closed = report(description="已处理的垃圾")
    workflow.case_accept(case=closed, actor=cast.liaison)
    workflow.case_resolve(case=closed, actor=cast.liaison, note="已清理")
    workflow.case_verify(case=closed, actor=cast.caseworker)
    assert {case.cell for case in (pooled, assigned, closed)} == {world.n1}
    return pooled, assigned, closed


def township_totals() -> dict[str, int]:
    rows = DailyFigures.objects.values("township__code").annotate(total=Sum("total"))
    return {row["township__code"]: row["total"] for row in rows}


def test_a_grid_import_moves_a_cells_open_cases_to_its_new_township(
    tmp_path, cast, world, cases_of_n1
):
    pooled, assigned, closed = cases_of_n1
    versions = {case.pk: case.version for case in cases_of_n1}
    path = tmp_path / "grid.geojson"
    path.write_text(grid_giving(world.n1, world.south), encoding="utf-8")
    out, err = StringIO(), StringIO()

    call_command("import_grid", str(path), stdout=out, stderr=err)

    assert "moves from township “N” to “S”: its open cases move with it" in out.getvalue() + (
        err.getvalue()
    )
    moved = {case.pk: case for case in Case.objects.all()}
    assert moved[pooled.pk].township == moved[assigned.pk].township == world.south
    assert moved[closed.pk].township == world.north  # the record of who worked it stays
    for case in (pooled, assigned):
        assert moved[case.pk].version == versions[case.pk] + 1
        assert moved[case.pk].state == case.state
        event = moved[case.pk].events.latest("at", "id")
        assert event.action == "move_township"
        assert event.data == {"cell": "N-01", "old_township": "N", "new_township": "S"}
        assert event.comment == "北街道 → 南街道"
    assert moved[closed.pk].version == versions[closed.pk]


def test_the_new_townships_staff_work_the_moved_pool_case_and_the_old_ones_no_longer_see_it(
    client, cast, world, cases_of_n1
):
    pooled, _assigned, _closed = cases_of_n1
    apply(plan_grid(grid_giving(world.n1, world.south)))
    page = reverse("cases:detail", args=[pooled.number])
    client.force_login(cast.dispatcher)
    assert client.get(page).status_code == 404
    client.force_login(cast.south_dispatcher)
    assert pooled.number in client.get(reverse("cases:fallback")).text
    assert "moved to another township with its grid cell" in client.get(page).text
    workflow.case_dispatch(
        case=Case.objects.get(pk=pooled.pk), actor=cast.south_dispatcher, lead=world.urban
    )
    assert Case.objects.get(pk=pooled.pk).state == State.ASSIGNED


def test_a_cell_given_to_another_township_in_the_admin_takes_its_open_cases(
    client, cast, world, cases_of_n1
):
    pooled, assigned, closed = cases_of_n1
    world.n1.township = world.south
    world.n1.save()
    townships = dict(Case.objects.values_list("pk", "township"))
    assert townships == {
        pooled.pk: world.south.pk,
        assigned.pk: world.south.pk,
        closed.pk: world.north.pk,
    }
    world.n1.name = "改名的网格"
    world.n1.save()  # no move: nothing more happens
    assert Case.objects.filter(events__action="move_township").count() == 2


def test_the_dashboards_figures_count_the_moved_cases_in_their_new_township(
    cast, world, cases_of_n1
):
    figures_refresh()
    assert township_totals() == {"N": 3}
    apply(plan_grid(grid_giving(world.n1, world.south)))
    figures_refresh()
    assert township_totals() == {"N": 1, "S": 2}


def test_the_admin_says_how_many_open_cases_went_with_the_cell(client, cast, world, cases_of_n1):
    client.force_login(cast.admin)
    url = reverse("admin:departments_gridcell_change", args=[world.n1.pk])
    form = client.get(url).context["adminform"].form
    data = {name: form[name].value() for name in form.fields}
    data.update(township=world.south.pk, boundary=json.dumps(world.n1.boundary))
    response = client.post(url, {k: v for k, v in data.items() if v is not None}, follow=True)
    assert "2 open cases moved with the cell to 南街道." in response.text


def test_a_cell_move_is_flushed_to_disk_at_commit_as_any_change(cast, world, cases_of_n1):
    """The roll-ups' refreshes commit without waiting for the disk (derived rows, done
    again if lost); the supervision roll-up's lock, taken inside a cell move, must not
    carry that over to the move of real cases."""
    from django.db import connection, transaction

    from cases.services.supervision import supervision_moving

    # (No refresh first: the test is one transaction, which its settings would keep.)
    moved = [case.pk for case in cases_of_n1]
    with transaction.atomic(), supervision_moving(moved), connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"
