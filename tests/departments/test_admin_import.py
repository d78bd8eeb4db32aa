"""Import with preview and export of the SPEC §5 files in the admin: the same validation as
the commands, nothing written before "Apply", exports that import back unchanged."""

import json
import re
import threading
import time
from datetime import date

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.urls import reverse

from cases.models import OutboxMessage
from departments import importers
from departments.admin import imports as admin_io
from departments.importers import COLUMNS, PLANNERS
from departments.models import Department, Responsibility, User
from departments.services import sync_role_groups
from tests.cases.test_i18n import compiled_catalogue  # noqa: F401 (a fixture)
from tests.conftest import make_user

MODELS = {
    "grid": "gridcell",
    "departments": "department",
    "categories": "category",
    "responsibilities": "responsibility",
    "users": "user",
}
HEADERS = {
    "departments": "code,name,supervisor_emails",
    "categories": "code,name,parent_code,accept_hours,resolve_days",
    "responsibilities": "category_code,department_code,scope,role,basis,valid_from,valid_to",
    "users": "username,full_name,email,role,township_code,department_code",
}


def import_url(subject):
    return reverse(f"admin:departments_{MODELS[subject]}_import")


def upload(client, subject, text, name="file.csv"):
    file = SimpleUploadedFile(name, text.encode("utf-8"))
    return client.post(import_url(subject), {"file": file})


def apply(client, subject, preview):
    return client.post(
        import_url(subject), {"apply": "1", "digest": preview.context["digest"]}, follow=True
    )


@pytest.fixture
def admin_client(client, cast):
    client.force_login(cast.admin)
    return client


@pytest.fixture
def richer_world(world, cast):
    Responsibility.objects.create(
        category=world.lamp,
        department=world.housing,
        cell=world.n2,
        role="assist",
        basis="会议纪要 2026-3",
        valid_from=date(2026, 1, 1),
        valid_to=date(2026, 12, 31),
    )
    # As an import or the admin leaves them: staff flags follow the roles.
    sync_role_groups(users=User.objects.all())
    Responsibility.objects.create(
        category=world.rubbish, department=world.market, township=world.south, role="lead"
    )
    return world


@pytest.mark.parametrize("subject", list(MODELS))
def test_every_export_imports_back_with_nothing_to_change(admin_client, richer_world, subject):
    response = admin_client.get(reverse(f"admin:departments_{MODELS[subject]}_export"))
    assert response.status_code == 200
    text = response.content.decode("utf-8")
    plan = PLANNERS[subject](text)
    assert plan.errors == []
    summary = plan.summary
    assert summary["created"] == summary["updated"] == 0, [
        (row.key, row.changes) for row in plan.rows if row.action != "unchanged"
    ]
    assert summary["unchanged"] > 0


def test_a_file_that_changes_nothing_offers_nothing_to_apply(admin_client, world):
    export = admin_client.get(reverse("admin:departments_department_export"))
    preview = upload(admin_client, "departments", export.content.decode("utf-8"))
    assert "Nothing would change." in preview.text
    assert 'name="apply"' not in preview.text
    changed = upload(admin_client, "departments", f"{HEADERS['departments']}\nXF,消防,\n")
    assert 'name="apply"' in changed.text


@pytest.mark.parametrize("subject", list(HEADERS))
def test_csv_exports_have_exactly_the_spec_header(admin_client, world, subject):
    response = admin_client.get(reverse(f"admin:departments_{MODELS[subject]}_export"))
    assert response.content.decode("utf-8-sig").splitlines()[0] == HEADERS[subject]


@pytest.mark.parametrize("subject", list(HEADERS))
def test_csv_exports_begin_with_a_bom_so_excel_reads_chinese_and_import_back(
    admin_client, richer_world, subject
):
    response = admin_client.get(reverse(f"admin:departments_{MODELS[subject]}_export"))
    assert response.content.startswith(b"\xef\xbb\xbf")
    # As the admin's upload gives it: bytes, BOM and all.
    plan = PLANNERS[subject](response.content)
    assert plan.errors == []
    assert plan.summary["created"] == plan.summary["updated"] == 0
    assert plan.summary["unchanged"] > 0


def test_grid_export_is_a_feature_collection_with_the_spec_properties(admin_client, world):
    response = admin_client.get(reverse("admin:departments_gridcell_export"))
    document = json.loads(response.content)
    assert document["type"] == "FeatureCollection"
    feature = next(f for f in document["features"] if f["properties"]["code"] == "N-01")
    assert feature["properties"] == {
        "code": "N-01",
        "name": "网格 N-01",
        "township_code": "N",
        "township_name": "北街道",
        "community": "",
    }
    assert feature["geometry"] == world.n1.boundary


def test_grid_export_is_compact_so_the_admin_can_import_a_big_district_back(admin_client, world):
    text = admin_client.get(reverse("admin:departments_gridcell_export")).content.decode()

    assert text.count("\n") == 1 and text.endswith("}\n")
    assert '": ' not in text and '", "' not in text
    assert text == json.dumps(json.loads(text), ensure_ascii=False, separators=(",", ":")) + "\n"


def test_preview_shows_what_would_change_and_saves_nothing(admin_client, world):
    text = (
        "code,name,supervisor_emails\n"
        "CG,城管局,new-boss@example.org\n"
        "HB,环保局,hb@example.org\n"
        "SJ,市场监管局,sj-boss@example.org\n"
    )
    preview = upload(admin_client, "departments", text)
    assert preview.status_code == 200
    actions = {row.key: row.action for row in preview.context["plan"].rows}
    assert actions == {"CG": "update", "HB": "create", "SJ": "unchanged"}
    assert "new-boss@example.org" in preview.text
    assert "created 1, updated 1, unchanged 1" in preview.text
    assert not Department.objects.filter(code="HB").exists()
    assert Department.objects.get(code="CG").supervisor_emails == "cg-boss@example.org"

    response = apply(admin_client, "departments", preview)
    assert response.status_code == 200
    assert Department.objects.get(code="HB").name == "环保局"
    assert Department.objects.get(code="CG").supervisor_emails == "new-boss@example.org"


def test_preview_names_related_records_and_choices_not_their_ids(admin_client, world):
    text = f"{HEADERS['responsibilities']}\nSTALL,SJ,N-02,assist,市场监管职责,,\n"
    preview = upload(admin_client, "responsibilities", text)
    (row,) = preview.context["rows"]
    assert row.key == "STALL / SJ / N-02 / assist"
    changes = {str(label): new for label, _old, new in row.changes}
    assert changes["Category"] == world.stall
    assert changes["Department"] == world.market
    assert changes["Grid cell"] == world.n2
    assert changes["Township"] is None
    assert str(changes["Role"]) == "assist"  # the choice's label
    assert "category_id" not in preview.text and "(&#x27;STALL&#x27;" not in preview.text
    assert f"{world.stall}" in preview.text


def test_grid_preview_leaves_out_the_bounding_box_the_boundary_gives(admin_client, world):
    features = [
        {
            "type": "Feature",
            "properties": {
                "code": "N-09",
                "name": "新网格",
                "township_code": "NEW",
                "township_name": "新街道",
            },
            "geometry": {
                "type": "Polygon",
                "coordinates": [
                    [[120, 31], [120.01, 31], [120.01, 31.01], [120, 31.01], [120, 31]]
                ],
            },
        }
    ]
    text = json.dumps({"type": "FeatureCollection", "features": features})
    preview = upload(admin_client, "grid", text, name="grid.geojson")
    rows = {row.key: row for row in preview.context["rows"]}
    assert set(rows) == {"N-09", "NEW"}
    cell_labels = {str(label) for label, _old, _new in rows["N-09"].changes}
    assert "Boundary" in cell_labels and "township_code" in cell_labels
    assert "<strong>township_code</strong>" in preview.text  # the file's column, as spelt
    assert not cell_labels & {"min_lng", "min lng", "max_lat", "max lat"}
    assert {str(label) for label, _old, _new in rows["NEW"].changes} == {"Code", "Name"}


def test_a_file_with_errors_lists_them_by_line_and_cannot_be_applied(admin_client, world):
    text = "code,name,supervisor_emails\nHB,环保局,hb@example.org\nbad code,坏,x\n"
    preview = upload(admin_client, "departments", text)
    errors = [str(error) for error in preview.context["plan"].errors]
    assert any(error.startswith("line 3:") for error in errors)
    assert "Apply this import" not in preview.text
    response = admin_client.post(import_url("departments"), {"apply": "1", "digest": "x"})
    assert response.status_code == 302
    assert not Department.objects.filter(code="HB").exists()


def test_extra_columns_are_an_error_as_in_the_command(admin_client, world):
    preview = upload(admin_client, "departments", "code,name,supervisor_emails,x\nHB,环保局,,1\n")
    assert any("unexpected columns" in str(error) for error in preview.context["plan"].errors)


def test_apply_replans_and_refuses_when_the_data_changed_since_the_preview(admin_client, world):
    preview = upload(admin_client, "departments", "code,name,supervisor_emails\nHB,环保局,\n")
    Department.objects.create(code="HB", name="另一个")
    response = apply(admin_client, "departments", preview)
    assert "changed since the preview" in response.text
    assert Department.objects.get(code="HB").name == "另一个"
    # Applying the new preview then works.
    apply(admin_client, "departments", response)
    assert Department.objects.get(code="HB").name == "环保局"


def test_apply_refuses_a_row_changed_since_the_preview_though_the_counts_are_the_same(
    admin_client, world
):
    text = "code,name,supervisor_emails\nCG,城管局,new-boss@example.org\n"
    preview = upload(admin_client, "departments", text)
    # Another administrator imports another address for the same department meanwhile:
    # still one update, but not the one the preview showed.
    importers.apply(
        PLANNERS["departments"]("code,name,supervisor_emails\nCG,城管局,x@example.org\n")
    )

    response = apply(admin_client, "departments", preview)

    assert "changed since the preview" in response.text
    assert "x@example.org" in response.text  # the new preview shows what would be overwritten
    assert Department.objects.get(code="CG").supervisor_emails == "x@example.org"
    apply(admin_client, "departments", response)
    assert Department.objects.get(code="CG").supervisor_emails == "new-boss@example.org"


def test_grid_apply_refuses_a_cell_changed_since_the_preview(admin_client, world):
    from departments.models import GridCell

    document = json.loads(admin_client.get(reverse("admin:departments_gridcell_export")).content)
    n1 = next(f for f in document["features"] if f["properties"]["code"] == "N-01")
    n1["properties"]["name"] = "改名的网格"
    preview = upload(admin_client, "grid", json.dumps(document), name="grid.geojson")
    GridCell.objects.filter(code="N-01").update(community="新社区")

    response = apply(admin_client, "grid", preview)

    assert "changed since the preview" in response.text
    assert GridCell.objects.get(code="N-01").name == "网格 N-01"


def test_importing_users_in_the_admin_invites_the_new_ones(admin_client, world):
    text = (
        "username,full_name,email,role,township_code,department_code\n"
        "newbie,新同事,newbie@example.org,liaison,,CG\n"
    )
    preview = upload(admin_client, "users", text)
    assert not User.objects.filter(username="newbie").exists()
    response = apply(admin_client, "users", preview)
    assert "Imported file.csv: " in response.text
    assert "Invitations queued: 1" in response.text
    newbie = User.objects.get(username="newbie")
    assert newbie.is_staff and not newbie.has_usable_password()
    assert set(newbie.groups.values_list("name", flat=True)) == {"liaison"}
    assert OutboxMessage.objects.filter(kind="invitation", to="newbie@example.org").exists()


def east_grid() -> str:
    """A grid file of one cell, E-01, in a township E that is not in the world yet."""
    feature = {
        "type": "Feature",
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[121, 31], [121.01, 31], [121.01, 31.01], [121, 31]]],
        },
        "properties": {
            "code": "E-01",
            "name": "东网格",
            "township_code": "E",
            "township_name": "东街道",
        },
    }
    return json.dumps({"type": "FeatureCollection", "features": [feature]}, ensure_ascii=False)


def test_importing_the_grid_in_the_admin_creates_cells_and_townships(admin_client, world):
    preview = upload(admin_client, "grid", east_grid(), name="grid.geojson")
    assert "townships" in preview.text
    apply(admin_client, "grid", preview)
    from departments.models import GridCell

    cell = GridCell.objects.get(code="E-01")
    assert cell.township.name == "东街道"


def test_the_grid_preview_warns_of_a_cell_overlapping_a_stored_one_and_still_applies(
    admin_client, world
):
    from departments.models import GridCell
    from tests.conftest import square

    over_n1 = json.loads(east_grid())
    over_n1["features"][0]["geometry"] = square(0)  # where the world's N-01 lies
    preview = upload(admin_client, "grid", json.dumps(over_n1), name="grid.geojson")

    [warning] = re.findall(r'<li class="warning">([^<]*)</li>', preview.text)
    assert warning.startswith("feature 1: geometry: overlaps the stored cell “N-01”")
    assert "by 100% of the smaller cell" in warning
    apply(admin_client, "grid", preview)
    assert GridCell.objects.filter(code="E-01").exists()


@pytest.mark.parametrize("subject", list(MODELS))
def test_a_liaison_cannot_import_or_export(client, cast, subject):
    client.force_login(cast.liaison)
    assert client.get(import_url(subject)).status_code == 403
    export = reverse(f"admin:departments_{MODELS[subject]}_export")
    assert client.get(export).status_code == 403


def test_an_oversize_file_is_refused_before_planning(admin_client, world, monkeypatch):
    monkeypatch.setattr("departments.admin.imports.MAX_IMPORT_BYTES", 10)
    response = upload(admin_client, "departments", "code,name,supervisor_emails\nHB,环保局,\n")
    assert response.context["plan"] is None
    assert response.context["form"].errors["file"]
    assert not Department.objects.filter(code="HB").exists()


def test_the_admin_refuses_a_file_taking_away_the_importers_own_admin_rights(
    admin_client, cast, world
):
    make_user("deputy", User.Role.ADMIN)  # so that another administrator would be left
    text = f"{HEADERS['users']}\nadmin,系统管理员,admin@example.org,caseworker,N,\n"

    preview = upload(admin_client, "users", text)

    assert [str(error) for error in preview.context["plan"].errors] == [
        "line 2: role: this would take away your own administrator rights: "
        "ask another administrator to change your role."
    ]
    assert "Apply this import" not in preview.text
    cast.admin.refresh_from_db()
    assert cast.admin.is_superuser and cast.admin.role == User.Role.ADMIN


def test_the_admin_preview_refuses_a_file_leaving_no_active_superuser(client, world):
    # An administrator by role only (no superuser flag) may import users, and so could
    # otherwise demote the one superuser.
    root = make_user("root", User.Role.ADMIN)
    keeper = make_user("keeper", User.Role.ADMIN)
    User.objects.filter(pk=keeper.pk).update(is_superuser=False)
    client.force_login(keeper)
    text = f"{HEADERS['users']}\nroot,系统管理员,root@example.org,supervisor,N,\n"

    preview = upload(client, "users", text)

    assert [str(error) for error in preview.context["plan"].errors] == [
        "line 2: role: this would take the administrator rights of “root” away and leave "
        "no active administrator: keep the role admin for at least one active user."
    ]
    root.refresh_from_db()
    assert root.is_superuser


@pytest.mark.parametrize("subject", list(MODELS))
def test_the_import_page_names_the_columns_and_offers_todays_data(admin_client, subject):
    page = admin_client.get(import_url(subject)).text
    assert f"<code>{','.join(COLUMNS[subject])}</code>" in page
    export = reverse(f"admin:departments_{MODELS[subject]}_export")
    assert f'href="{export}"' in page
    assert admin_client.get(export).status_code == 200


def upload_in_chinese(client, subject, text):
    file = SimpleUploadedFile("file.csv", text.encode("utf-8"))
    return client.post(import_url(subject), {"file": file}, HTTP_ACCEPT_LANGUAGE="zh-hans")


@pytest.mark.usefixtures("compiled_catalogue")
def test_the_chinese_preview_heads_its_first_column_in_chinese(admin_client, world):
    preview = upload_in_chinese(
        admin_client, "departments", "code,name,supervisor_emails\nXF,消防,\n"
    )
    assert preview.status_code == 200
    assert '<th scope="col">行号</th>' in preview.text


@pytest.mark.usefixtures("compiled_catalogue")
def test_the_chinese_preview_follows_each_changed_field_with_a_full_width_colon(
    admin_client, world
):
    preview = upload_in_chinese(
        admin_client, "departments", "code,name,supervisor_emails\nXF,消防,\n"
    )

    assert "<div><strong>名称</strong>：消防</div>" in preview.text


@pytest.mark.usefixtures("compiled_catalogue")
def test_the_chinese_grid_preview_sums_up_cells_and_townships_in_chinese_punctuation(
    admin_client, world
):
    preview = upload_in_chinese(admin_client, "grid", east_grid())
    summary = re.search(r'<p class="import-summary">(.*?)</p>', preview.text).group(1)
    assert summary == "新建 1，更新 0，未变 0；街道：新建 1，更新 0，未变 0"


@pytest.mark.usefixtures("compiled_catalogue")
def test_the_chinese_preview_words_its_errors_in_chinese(admin_client, world):
    preview = upload_in_chinese(admin_client, "departments", "code,name\nXF,消防\n")
    assert "<li>第 1 行：表头：缺少列：supervisor_emails</li>" in preview.text
    grid = upload_in_chinese(admin_client, "departments", '{"type": "FeatureCollection"}\n')
    assert "<li>第 1 行：文件：" in grid.text


@pytest.mark.usefixtures("compiled_catalogue")
def test_the_chinese_users_preview_warns_of_an_address_others_have_and_still_applies(
    admin_client, cast
):
    # The cast's caseworker has caseworker@example.org.
    text = (
        f"{HEADERS['users']}\n"
        "wang,王,caseworker@example.org,caseworker,N,\n"
        "zhao,赵,Caseworker@example.org,caseworker,N,\n"
    )

    preview = upload_in_chinese(admin_client, "users", text)

    assert re.findall(r'<li class="warning">([^<]*)</li>', preview.text) == [
        "第 2 行：email：“caseworker@example.org”也是“zhao”、“caseworker”的邮箱：共用邮箱可以"
        "保留；否则请更正，以免他们的邀请和督办邮件发到同一个邮箱。",
        "第 3 行：email：“Caseworker@example.org”也是“wang”、“caseworker”的邮箱：共用邮箱可以"
        "保留；否则请更正，以免他们的邀请和督办邮件发到同一个邮箱。",
    ]
    apply(admin_client, "users", preview)
    assert User.objects.filter(username__in=["wang", "zhao"]).count() == 2


@pytest.mark.usefixtures("compiled_catalogue")
def test_the_chinese_grid_preview_words_geometry_and_json_errors_in_chinese(admin_client, world):
    def cell(code, geometry):
        properties = {"code": code, "name": code, "township_code": "E", "township_name": "东"}
        return {"type": "Feature", "properties": properties, "geometry": geometry}

    bow_tie = [[[121, 31], [121.001, 31.001], [121.001, 31], [121, 31.001], [121, 31]]]
    collapsed = [[[121, 31], [121.01, 31], [121, 31], [121, 31]]]
    square = [[[121, 31], [121.01, 31], [121.01, 31.01], [121, 31.01], [121, 31]]]
    features = [
        cell("A", {"type": "Polygon", "coordinates": bow_tie}),
        cell("B", {"type": "Polygon", "coordinates": collapsed}),
        cell("C", {"type": "Polygon", "coordinates": [square]}),
        cell("D", None),
    ]
    text = json.dumps({"type": "FeatureCollection", "features": features})

    errors = [
        e.message for e in upload_in_chinese(admin_client, "grid", text).context["plan"].errors
    ]
    csv = upload_in_chinese(admin_client, "grid", "code,name,township_code,township_name\n")

    assert errors == [
        "不是有效的多边形：边线相互交叉，位置在经度 121.0005、纬度 31.0005。",
        "不是有效的多边形：有一个环的不同顶点少于 3 个，位置在经度 121、纬度 31。",
        "坐标不能构成 Polygon：应为一个点 [经度, 纬度] 的位置却是一组点：多了一层方括号",
        "必须是 Polygon 或 MultiPolygon，而不是 null（没有几何图形）。",
    ]
    (error,) = csv.context["plan"].errors
    assert error.message.startswith("这看起来是 CSV 文件，不是 GeoJSON")


def test_json_nested_too_deeply_is_a_file_error_in_the_admin_not_a_server_error(admin_client):
    text = '{"type": "FeatureCollection", "features": ' + "[" * 100_000 + "]" * 100_000 + "}"

    preview = upload(admin_client, "grid", text, name="grid.geojson")

    assert preview.status_code == 200
    assert [str(e) for e in preview.context["plan"].errors] == [
        "file: the JSON is nested too deeply to be a grid file."
    ]


def test_an_administrator_who_is_no_superuser_cannot_make_or_change_one_by_import(client, world):
    # The admin's user form keeps the superuser flag and superusers' pages from them.
    root = make_user("root", User.Role.ADMIN)
    keeper = make_user("keeper", User.Role.ADMIN)
    User.objects.filter(pk=keeper.pk).update(is_superuser=False)
    sync_role_groups(users=User.objects.all())
    client.force_login(keeper)
    text = (
        f"{HEADERS['users']}\n"
        "keeper,保管员,keeper@example.org,admin,,\n"
        "heir,新管理员,heir@example.org,admin,,\n"
        "zhou,周主任,zhou@example.org,supervisor,,\n"
    )

    preview = upload(client, "users", text)
    assert preview.context["plan"].errors == []
    apply(client, "users", preview)

    assert list(User.objects.filter(is_superuser=True).values_list("username", flat=True)) == [
        "root"
    ]
    assert User.objects.get(username="heir").role == User.Role.ADMIN
    changed = f"{HEADERS['users']}\nroot,系统管理员,keeper@example.org,admin,,\n"
    preview = upload(client, "users", changed)
    assert [str(error) for error in preview.context["plan"].errors] == [
        "line 2: username: “root” is a superuser: only a superuser may change their record."
    ]
    root.refresh_from_db()
    assert root.email == "root@example.org"


@pytest.mark.django_db(transaction=True)
def test_a_file_applied_twice_at_once_imports_once_and_the_second_is_shown_a_preview(
    cast, world, monkeypatch
):
    from django.db import connections

    text = "code,name,supervisor_emails\nCG,城管局（新）,\nSW,水务局,\n"
    first = Client()
    first.force_login(cast.admin)
    digest = upload(first, "departments", text).context["digest"]
    second = Client()
    second.cookies = first.cookies  # a double click: the same session
    apply_plan = admin_io.apply

    def apply_once_the_other_waits(plan):
        """Both presses in flight: the one writing waits until the other waits for it."""
        watcher = connections.create_connection("default")
        try:
            with watcher.cursor() as cursor:
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline:
                    cursor.execute(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE wait_event_type = 'Lock' AND datname = current_database()"
                    )
                    if cursor.fetchone()[0]:
                        break
                    time.sleep(0.05)
        finally:
            watcher.close()
        return apply_plan(plan)

    monkeypatch.setattr(admin_io, "apply", apply_once_the_other_waits)
    responses = []

    def press_apply(client):
        responses.append(client.post(import_url("departments"), {"apply": "1", "digest": digest}))
        connection.close()

    threads = [threading.Thread(target=press_apply, args=(c,)) for c in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=15)

    # The second waited for the first's rows, then found its plan done already.
    assert sorted(r.status_code for r in responses) == [200, 302]
    (shown,) = [r for r in responses if r.status_code == 200]
    assert "changed since the preview" in shown.text
    assert "Apply this import" not in shown.text  # nothing is left to do
    assert Department.objects.get(code="CG").name == "城管局（新）"
    assert Department.objects.filter(code="SW").count() == 1


@pytest.mark.django_db(transaction=True)
def test_an_edit_saved_while_apply_writes_waits_for_it_and_is_not_overwritten_unseen(
    cast, world, monkeypatch
):
    """Apply plans again, compares with the preview and writes in one transaction holding
    the rows: another administrator's save cannot land between the check and the write."""
    from django.db import OperationalError, connections

    client = Client()
    client.force_login(cast.admin)
    text = "code,name,supervisor_emails\nCG,城管局,new-boss@example.org\n"
    preview = upload(client, "departments", text)
    edits = []
    apply_plan = admin_io.apply

    def apply_while_another_saves(plan):
        other = connections.create_connection("default")
        try:
            with other.cursor() as cursor:
                cursor.execute("SET lock_timeout = '200ms'")
                try:
                    cursor.execute(
                        f"UPDATE {Department._meta.db_table} SET supervisor_emails = %s"
                        " WHERE code = 'CG'",
                        ["x@example.org"],
                    )
                    edits.append("saved")
                except OperationalError:
                    edits.append("waited")
        finally:
            other.close()
        return apply_plan(plan)

    monkeypatch.setattr(admin_io, "apply", apply_while_another_saves)
    response = apply(client, "departments", preview)

    assert edits == ["waited"]
    assert "Imported" in response.text
    assert Department.objects.get(code="CG").supervisor_emails == "new-boss@example.org"


@pytest.mark.usefixtures("compiled_catalogue")
def test_the_chinese_message_of_a_users_import_joins_its_sentences_without_a_space(
    admin_client, world
):
    """ "…。 已排队发送邀请…" read with a space after the full stop, as English writes it."""
    text = (
        "username,full_name,email,role,township_code,department_code\n"
        "newbie,新同事,newbie@example.org,liaison,,CG\n"
    )
    preview = upload_in_chinese(admin_client, "users", text)
    response = admin_client.post(
        import_url("users"),
        {"apply": "1", "digest": preview.context["digest"]},
        follow=True,
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )
    told = [str(message) for message in response.context["messages"]]
    assert len(told) == 1 and "。已排队发送邀请：1 封。" in told[0] and "。 " not in told[0], told
