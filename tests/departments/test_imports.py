"""The five importers of SPEC §5 and their commands: idempotent, all-or-nothing, and every
bad row reported with its line (or, for GeoJSON, its feature position)."""

import json
from datetime import date
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, transaction
from django.utils import translation

from departments.exporters import export_users
from departments.importers import (
    UNCHANGED,
    ImportRefused,
    apply,
    plan_categories,
    plan_departments,
    plan_grid,
    plan_responsibilities,
    plan_users,
)
from departments.models import (
    Category,
    Department,
    GridCell,
    Responsibility,
    RoutingStamp,
    Township,
    User,
)
from departments.routing import get_index
from departments.services import sync_role_groups
from tests.conftest import STEP, make_user, square

pytestmark = pytest.mark.django_db


def csv_text(*lines: str) -> str:
    return "\n".join(lines) + "\n"


def messages(plan) -> list[str]:
    return [str(error) for error in plan.errors]


def feature(code, col, township="EAST", township_name="东街道", **props):
    return {
        "type": "Feature",
        "properties": {
            "code": code,
            "name": f"网格 {code}",
            "township_code": township,
            "township_name": township_name,
            **props,
        },
        "geometry": square(col, 3),
    }


def geojson(*features) -> str:
    return json.dumps({"type": "FeatureCollection", "features": list(features)}, ensure_ascii=False)


def run(command: str, path) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(command, str(path), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def snapshot(model) -> list:
    return list(model.objects.order_by("pk").values())


# -- departments -------------------------------------------------------------------------

DEPARTMENTS = csv_text(
    "code,name,supervisor_emails",
    "CG,城管局,boss@example.org; deputy@example.org",
    "WATER,水务集团,",
)


DEPARTMENTS_HEADER = "code,name,supervisor_emails"


def test_departments_import_creates_then_changes_nothing_the_second_time():
    result = apply(plan_departments(DEPARTMENTS.encode()))

    assert result.summary == {"created": 2, "updated": 0, "unchanged": 0}
    urban = Department.objects.get(code="CG")
    assert urban.name == "城管局"
    assert urban.supervisor_email_list == ["boss@example.org", "deputy@example.org"]
    again = plan_departments(DEPARTMENTS.encode())
    assert again.summary == {"created": 0, "updated": 0, "unchanged": 2}
    assert apply(again).summary["unchanged"] == 2


def test_an_address_given_twice_for_a_department_is_kept_once():
    apply(
        plan_departments(
            csv_text("code,name,supervisor_emails", "CG,城管局,a@x.org;A@x.org;;b@x.org;a@x.org")
        )
    )
    assert Department.objects.get().supervisor_email_list == ["a@x.org", "b@x.org"]


def test_supervisor_emails_may_be_separated_by_a_full_width_semicolon():
    apply(plan_departments(csv_text(DEPARTMENTS_HEADER, "CG,城管局,a@example.org；b@example.org")))

    assert Department.objects.get(code="CG").supervisor_emails == "a@example.org;b@example.org"


def test_supervisor_emails_separated_by_commas_are_refused_saying_to_use_semicolons():
    plan = plan_departments(
        csv_text(
            DEPARTMENTS_HEADER,
            'CG,城管局,"a@example.org, b@example.org"',
            "WATER,水务集团,a@example.org，b@example.org",
            "GAS,燃气集团,not-an-address",
        )
    )

    assert messages(plan) == [
        "line 2: supervisor_emails: “a@example.org, b@example.org” is not an email address:"
        " separate addresses with “;”.",
        "line 3: supervisor_emails: “a@example.org，b@example.org” is not an email address:"
        " separate addresses with “;”.",
        "line 4: supervisor_emails: “not-an-address” is not an email address.",
    ]


def test_supervisor_emails_split_by_unquoted_commas_are_refused_with_the_same_hint():
    """Typed in a text editor, the commas make more fields: the message only counted them."""
    plan = plan_departments(
        csv_text(
            DEPARTMENTS_HEADER,
            "CG,城管局,a@example.org,b@example.org",
            "SJ,市场监管局,a@example.org,其他",
        )
    )

    assert messages(plan) == [
        "line 2: row: expected 3 fields, found 4: separate the addresses of supervisor_emails"
        " with “;”, not commas.",
        "line 3: row: expected 3 fields, found 4",
    ]


def test_departments_import_updates_by_code_and_shows_the_changes():
    apply(plan_departments(DEPARTMENTS))

    plan = plan_departments(
        csv_text("code,name,supervisor_emails", "CG,区城市管理局,boss@example.org")
    )

    (row,) = plan.rows
    assert row.action == "update"
    assert row.changes["name"] == ("城管局", "区城市管理局")
    assert row.changes["supervisor_emails"] == (
        "boss@example.org;deputy@example.org",
        "boss@example.org",
    )
    apply(plan)
    assert Department.objects.get(code="CG").name == "区城市管理局"
    assert Department.objects.count() == 2


def test_departments_import_reports_every_bad_row_and_saves_nothing():
    apply(plan_departments(DEPARTMENTS))
    before = snapshot(Department)
    data = csv_text(
        "code,name,supervisor_emails",
        "CG,改名的城管局,boss@example.org",
        "SJ,,sj@example.org",
        "ZJ,住建局,not-an-address",
        "CG,城管局又一次,",
    )

    plan = plan_departments(data)

    assert messages(plan) == [
        "line 3: name: is required.",
        "line 4: supervisor_emails: “not-an-address” is not an email address.",
        "line 5: code: CG appears twice (first in line 2).",
    ]
    with pytest.raises(ImportRefused):
        apply(plan)
    assert snapshot(Department) == before


def test_a_bad_row_makes_the_command_fail_with_line_numbers_and_import_nothing(tmp_path):
    path = tmp_path / "departments.csv"
    path.write_text(csv_text("code,name,supervisor_emails", "OK,好部门,", "BAD,坏部门,x@"))
    err = StringIO()

    with pytest.raises(CommandError, match=r"^departments.csv: 1 error; nothing was imported"):
        call_command("import_departments", str(path), stdout=StringIO(), stderr=err)

    assert "line 3: supervisor_emails: “x@” is not an email address." in err.getvalue()
    assert not Department.objects.exists()


def test_import_command_prints_the_summary_and_is_idempotent(tmp_path):
    path = tmp_path / "departments.csv"
    path.write_text(DEPARTMENTS, encoding="utf-8")

    first, _err = run("import_departments", path)
    second, _err = run("import_departments", path)

    assert "created 2, updated 0, unchanged 0" in first
    assert "created 0, updated 0, unchanged 2" in second


def test_a_missing_file_is_a_command_error(tmp_path):
    with pytest.raises(CommandError, match="cannot read"):
        call_command("import_departments", str(tmp_path / "nope.csv"), stdout=StringIO())


# -- file-level problems, common to every CSV importer -----------------------------------


def test_missing_columns_are_named_on_the_header_line():
    plan = plan_departments(csv_text("code,name", "CG,城管局"))

    assert messages(plan) == ["line 1: header: missing columns: supervisor_emails"]


def test_columns_are_read_by_name_in_whatever_order_the_file_has_them(admin_client):
    plan = plan_departments(csv_text("supervisor_emails,name,code", "a@example.org,城管局,CG"))

    assert plan.errors == []
    (row,) = plan.rows
    assert (row.key, row.values["name"]) == ("CG", "城管局")
    # And the admin's import page does not ask for an order it does not need.
    page = admin_client.get("/admin/departments/department/import/").content.decode()
    assert "(in any order)" in page and "in this order" not in page


def test_extra_columns_are_an_error():
    plan = plan_departments(csv_text("code,name,supervisor_emails,colour", "CG,城管局,,red"))

    assert len(plan.errors) == 1
    assert str(plan.errors[0]).startswith("line 1: header: unexpected columns: colour")


def test_empty_columns_a_spreadsheet_left_at_the_right_are_ignored():
    plan = plan_departments(
        csv_text("code,name,supervisor_emails,,", "CG,城管局,a@example.org,,", "WATER,水务集团,, ,")
    )

    assert plan.errors == []
    assert [row.values for row in plan.rows] == [
        {"code": "CG", "name": "城管局", "supervisor_emails": "a@example.org"},
        {"code": "WATER", "name": "水务集团", "supervisor_emails": ""},
    ]


def test_an_unnamed_column_with_a_value_in_some_row_is_an_extra_column():
    plan = plan_departments(
        csv_text("code,name,supervisor_emails,,", "CG,城管局,,,", "WATER,水务集团,,,x")
    )

    assert messages(plan) == [
        'line 1: header: unexpected columns: "" (the columns are code,name,supervisor_emails)'
    ]


def test_a_row_with_too_many_fields_is_reported_on_its_line():
    plan = plan_departments(csv_text("code,name,supervisor_emails", "CG,城管局,,surplus"))

    assert messages(plan) == ["line 2: row: expected 3 fields, found 4"]


def test_a_file_that_is_not_utf8_is_refused_with_a_clear_message():
    data = csv_text("code,name,supervisor_emails", "CG,城管局,").encode("gbk")

    plan = plan_departments(data)

    assert len(plan.errors) == 1
    message = str(plan.errors[0])
    assert message.startswith("line 2: file: not UTF-8 encoded: byte 32 of the file")
    assert "GBK" in message
    assert not plan.rows


def test_a_nul_character_is_reported_on_its_line_not_stored():
    data = csv_text("code,name,supervisor_emails", "CG,城管局,", "SJ,市场\x00监管局,")

    assert messages(plan_departments(data.encode())) == [
        "line 3: file: contains a NUL character: is this really a CSV file saved as UTF-8 text?"
    ]


def test_a_code_that_is_not_latin_says_what_a_code_may_be():
    plan = plan_departments(csv_text("code,name,supervisor_emails", "城管,城管局,"))

    assert messages(plan) == [
        "line 2: code: “城管” is not a code: begin with a Latin letter (A–Z) or a digit, "
        "then letters, digits, “-”, “_” or “.”."
    ]


def test_a_utf8_bom_and_blank_lines_are_tolerated_and_lines_still_count():
    data = "\ufeffcode,name,supervisor_emails\n\nCG,城管局,\nSJ,市场监管局,bad\n".encode()

    plan = plan_departments(data)

    assert messages(plan) == ["line 4: supervisor_emails: “bad” is not an email address."]


def test_a_header_in_capitals_or_with_a_second_bom_names_the_same_columns():
    # A header typed in Excel ("Code"), a file saved with a BOM twice, a BOM inside the
    # first quoted name, a zero-width space pasted with a name.
    for header in (
        "Code,Name,SUPERVISOR_EMAILS",
        "\ufeffcode,name,supervisor_emails",
        '"\ufeffcode",name,supervisor_emails',
        "code\u200b,name,supervisor_emails",
    ):
        plan = plan_departments(f"\ufeff{header}\r\nCG,城管局,a@example.org\r\n".encode())

        assert plan.errors == [], header
        assert [row.values for row in plan.rows] == [
            {"code": "CG", "name": "城管局", "supervisor_emails": "a@example.org"}
        ]


def test_a_title_above_the_header_says_on_which_line_the_header_is():
    # A government spreadsheet's title row, merged across the table, and a note below it.
    data = (
        "城东街道部门名单,,\r\n"
        "\r\n"
        '"填表说明：\n邮箱以分号分隔",,\r\n'
        "code,name,supervisor_emails\r\n"
        "CG,城管局,\r\n"
    )

    assert messages(plan_departments(data.encode())) == [
        "line 1: header: the first row must be the header, and the header is on line 5: "
        "delete the rows above it (a title, notes)."
    ]


def test_an_unexpected_column_is_named_as_the_file_writes_it():
    plan = plan_departments(csv_text("Code,Name,Supervisor_Emails,Remark", "CG,城管局,,"))

    assert messages(plan) == [
        "line 1: header: unexpected columns: Remark (the columns are code,name,supervisor_emails)"
    ]


@pytest.mark.parametrize(("separator", "named"), [("\t", "a tab"), (";", "“;”"), ("，", "“，”")])
def test_a_file_separated_by_tabs_or_semicolons_says_so_on_its_header(separator, named):
    # Excel's "Text (Tab delimited)" or a table pasted from Excel; a European Excel's ";";
    # a header typed with a Chinese input method's full-width comma.
    header = separator.join(["code", "name", "supervisor_emails"])

    plan = plan_departments(csv_text(header, separator.join(["CG", "城管局", ""])))

    assert messages(plan) == [
        f"line 1: header: the columns are separated by {named}: a CSV file separates them by "
        "commas (“,”). In Excel, save the file as “CSV UTF-8 (Comma delimited)”."
    ]


def test_a_row_typed_with_full_width_commas_says_so_on_its_line():
    plan = plan_departments(csv_text("code,name,supervisor_emails", "CG，城管局，a@example.org"))

    assert messages(plan) == [
        "line 2: row: expected 3 fields, found 1: the fields seem separated by “，”; a CSV file "
        "separates them by commas (“,”)."
    ]


def test_a_supervisor_address_no_mail_server_takes_is_refused():
    # Django's address check allows 320 characters; mail servers and the outbox take 254.
    too_long = "d" * 64 + "@" + ".".join(["e" * 63] * 3) + ".org"
    plan = plan_departments(csv_text("code,name,supervisor_emails", f"CG,城管局,{too_long}"))

    assert messages(plan) == [f"line 2: supervisor_emails: “{too_long}” is not an email address."]


def test_a_value_over_the_csv_readers_limit_is_named_in_the_sites_language():
    huge = "长" * 200_000
    plan = plan_departments(csv_text("code,name,supervisor_emails", "ZJ,住建局,", f"CG,{huge},"))
    assert messages(plan) == [
        'line 3: row: a value is longer than 131,072 characters: is a quote (") left open above?'
    ]
    with translation.override("zh-hans"):
        plan = plan_departments(csv_text("code,name,supervisor_emails", f"CG,{huge},"))
    assert "超过 131,072 个字符" in messages(plan)[0]


@pytest.mark.parametrize("data", [b"", b"\xef\xbb\xbf", b"\r\n\r\n", b"  \n\t\n"])
def test_an_empty_file_is_an_error(data):
    """Blank lines were "line 1: header: missing columns: code, name, supervisor_emails"."""
    assert messages(plan_departments(data)) == [
        "file: the file is empty: the first row must be the header."
    ]


def test_a_json_file_given_as_csv_is_named_as_json_not_listed_as_columns():
    grid = json.dumps({"type": "FeatureCollection", "features": [{"type": "Feature"}]})

    assert messages(plan_departments(grid)) == [
        "line 1: file: this is JSON (a grid file?), not CSV: its first row must be the header "
        "code,name,supervisor_emails."
    ]


def test_a_header_of_many_unexpected_columns_names_the_first_few():
    header = "code,name,supervisor_emails," + ",".join(f"c{n}" for n in range(30))

    (message,) = messages(plan_departments(csv_text(header)))
    assert "c9, …" in message and "c10" not in message


def test_an_empty_grid_file_is_called_empty_as_the_csv_files_are():
    assert messages(plan_grid(b"  \n")) == [
        "file: the file is empty: a grid file is a GeoJSON FeatureCollection."
    ]


def test_a_grid_file_in_utf16_or_with_a_nul_is_not_called_a_spreadsheet():
    # The words were the CSV files': "as Excel's Unicode Text saves: save it as CSV UTF-8".
    utf16 = geojson(feature("E-01", 0)).encode("utf-16")

    assert messages(plan_grid(utf16)) == [
        "file: not UTF-8 encoded: byte 1 of the file is invalid (it is UTF-16: save it as UTF-8)."
    ]
    assert messages(plan_grid(geojson() + "\x00")) == [
        "file: contains a NUL character: is this really a GeoJSON file saved as UTF-8 text?"
    ]


def test_a_code_differing_from_a_stored_one_only_in_letter_case_is_refused(world):
    plan = plan_departments(csv_text("code,name,supervisor_emails", "cg,城管局,", "SJ,市场监管局,"))
    assert messages(plan) == [
        "line 2: code: “cg” differs from the existing “CG” only in letter case."
    ]
    categories = plan_categories(
        csv_text("code,name,parent_code,accept_hours,resolve_days", "env,市容环境,,4,3")
    )
    assert messages(categories) == [
        "line 2: code: “env” differs from the existing “ENV” only in letter case."
    ]
    grid = plan_grid(geojson(feature("n-01", 9, township="n", township_name="北街道")))
    assert messages(grid) == [
        "feature 1: code: “n-01” differs from the existing “N-01” only in letter case.",
        "feature 1: township_code: “n” differs from the existing “N” only in letter case.",
    ]


def test_two_new_codes_differing_only_in_letter_case_in_one_file_are_refused(world):
    plan = plan_departments(csv_text("code,name,supervisor_emails", "wl,文旅局,", "WL,文旅局,"))
    assert messages(plan) == [
        "line 3: code: “WL” differs from “wl” earlier in the file only in letter case."
    ]


# -- categories --------------------------------------------------------------------------

CATEGORIES = csv_text(
    "code,name,parent_code,accept_hours,resolve_days",
    "ENV-RUBBISH,暴露垃圾,ENV,2,1",  # its parent comes later in the file
    "ENV,市容环境,,4,3.5",
    "LAMP,路灯损坏,,8,5",
)


def test_categories_import_links_parents_defined_later_and_is_idempotent():
    result = apply(plan_categories(CATEGORIES))

    assert result.summary == {"created": 3, "updated": 0, "unchanged": 0}
    rubbish = Category.objects.get(code="ENV-RUBBISH")
    assert rubbish.parent.code == "ENV"
    assert rubbish.accept_hours == Decimal("2")
    assert Category.objects.get(code="ENV").resolve_days == Decimal("3.5")
    assert plan_categories(CATEGORIES).summary == {"created": 0, "updated": 0, "unchanged": 3}


def test_moving_a_category_to_another_parent_is_an_update():
    apply(plan_categories(CATEGORIES))

    plan = plan_categories(
        csv_text("code,name,parent_code,accept_hours,resolve_days", "ENV-RUBBISH,暴露垃圾,LAMP,2,1")
    )

    assert [row.action for row in plan.rows] == ["update"]
    assert plan.rows[0].changes == {"parent_code": ("ENV", "LAMP")}
    apply(plan)
    assert Category.objects.get(code="ENV-RUBBISH").parent.code == "LAMP"


def test_categories_import_bumps_the_routing_stamp_once_it_changes_something():
    before = RoutingStamp.current()
    apply(plan_categories(CATEGORIES))
    after = RoutingStamp.current()

    assert after != before
    apply(plan_categories(CATEGORIES))  # nothing changes: the routers keep their cache
    assert RoutingStamp.current() == after


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("BAD,坏,,0,1", "line 2: accept_hours: must be a number greater than 0, not “0”."),
        ("BAD,坏,,2,-1", "line 2: resolve_days: must be a number greater than 0, not “-1”."),
        ("BAD,坏,,two,1", "line 2: accept_hours: “two” is not a number."),
        (
            "BAD,坏,,0.001,1",
            "line 2: accept_hours: “0.001” has too many decimal places: at most 2.",
        ),
        (
            "BAD,坏,,100000,1",
            "line 2: accept_hours: “100000” has too many digits: at most 99999.99.",
        ),
        ("BAD,坏,,1e30,1", "line 2: accept_hours: “1e30” has too many digits: at most 99999.99."),
        ("BAD,坏,NOPE,2,1", "line 2: parent_code: unknown category “NOPE”."),
        ("BAD,坏,BAD,2,1", "line 2: parent_code: a category cannot be its own parent."),
        ("BAD,,,2,1", "line 2: name: is required."),
        (
            "B AD,坏,,2,1",
            "line 2: code: “B AD” is not a code: begin with a Latin letter (A–Z) or a digit, "
            "then letters, digits, “-”, “_” or “.”.",
        ),
    ],
)
def test_bad_category_rows_are_reported_with_their_line(row, expected):
    plan = plan_categories(csv_text("code,name,parent_code,accept_hours,resolve_days", row))

    assert messages(plan) == [expected]


def test_every_bad_category_row_is_reported_in_one_run():
    """An unknown parent is reported beside rows bad for other reasons; a bad row's own
    code still counts as defined (its children are not told their parent is unknown)."""
    data = csv_text(
        "code,name,parent_code,accept_hours,resolve_days",
        "X1,x,,0,1",
        "X2,y,X1,2,1",
        "X3,z,NOPE,2,1",
        "X4,w,,2,-1",
    )

    assert messages(plan_categories(data)) == [
        "line 2: accept_hours: must be a number greater than 0, not “0”.",
        "line 4: parent_code: unknown category “NOPE”.",
        "line 5: resolve_days: must be a number greater than 0, not “-1”.",
    ]


def test_an_unknown_parent_is_reported_with_the_rows_other_errors():
    # SPEC §5: every bad row and what is wrong with it. It was said only once the row's
    # other errors were fixed, a second run later.
    data = csv_text("code,name,parent_code,accept_hours,resolve_days", "X1,x,NOPE,24h,5")

    assert messages(plan_categories(data)) == [
        "line 2: accept_hours: “24h” is not a number.",
        "line 2: parent_code: unknown category “NOPE”.",
    ]


def test_a_cycle_of_parents_is_reported_on_every_row_in_it_and_nothing_is_saved():
    data = csv_text(
        "code,name,parent_code,accept_hours,resolve_days",
        "OK,好的,,1,1",
        "A,甲,B,1,1",
        "B,乙,C,1,1",
        "C,丙,A,1,1",
    )

    plan = plan_categories(data)

    assert [(e.line, e.field) for e in plan.errors] == [
        (3, "parent_code"),
        (4, "parent_code"),
        (5, "parent_code"),
    ]
    assert "A → B → C → A" in str(plan.errors[0])
    with pytest.raises(ImportRefused):
        apply(plan)
    assert not Category.objects.exists()


def test_a_cycle_through_a_category_already_in_the_database_is_caught():
    apply(plan_categories(CATEGORIES))  # ENV-RUBBISH's parent is ENV

    plan = plan_categories(
        csv_text("code,name,parent_code,accept_hours,resolve_days", "ENV,市容环境,ENV-RUBBISH,4,3")
    )

    assert [(e.line, e.field) for e in plan.errors] == [(2, "parent_code")]


# -- grid --------------------------------------------------------------------------------


def test_grid_import_creates_townships_and_cells_that_the_router_locates():
    data = geojson(
        feature("E-01", 0, community="东社区"),
        feature("E-02", 1),
        feature("W-01", 2, township="WEST", township_name="西街道"),
    )

    plan = plan_grid(data.encode())
    result = apply(plan)

    assert result.summary == {"created": 3, "updated": 0, "unchanged": 0}
    assert result.side_summary == {"created": 2, "updated": 0, "unchanged": 0}
    cell = GridCell.objects.select_related("township").get(code="E-01")
    assert cell.township.name == "东街道"
    assert cell.community == "东社区"
    assert cell.boundary == square(0, 3)
    assert (cell.min_lng, cell.min_lat, cell.max_lng, cell.max_lat) == pytest.approx(
        (120.0, 30.03, 120.01, 30.04)
    )
    # Bulk writes send no signals: the importer must move the stamp itself.
    assert get_index().locate(120.025, 30.035) == GridCell.objects.get(code="W-01").pk
    assert plan_grid(data).summary == {"created": 0, "updated": 0, "unchanged": 3}


def test_grid_import_moves_a_cell_to_another_township_and_renames_townships():
    apply(plan_grid(geojson(feature("E-01", 0))))

    plan = plan_grid(geojson(feature("E-01", 0, township="WEST", township_name="西街道")))
    apply(plan)

    assert plan.rows[0].changes["township_code"] == ("EAST", "WEST")
    assert GridCell.objects.get(code="E-01").township.code == "WEST"
    apply(plan_grid(geojson(feature("E-01", 0, township="WEST", township_name="新西街道"))))
    assert Township.objects.get(code="WEST").name == "新西街道"


def test_grid_accepts_a_multipolygon():
    multi = feature("M-01", 0)
    multi["geometry"] = {
        "type": "MultiPolygon",
        "coordinates": [square(0, 3)["coordinates"], square(4, 3)["coordinates"]],
    }

    apply(plan_grid(geojson(multi)))

    cell = GridCell.objects.get(code="M-01")
    assert (cell.min_lng, cell.max_lng) == pytest.approx((120.0, 120.05))


def test_invalid_geometries_are_reported_by_feature_position_and_nothing_is_saved():
    bow_tie = feature("BAD-1", 1)
    bow_tie["geometry"] = {
        "type": "Polygon",
        "coordinates": [[[120, 30], [120.01, 30.01], [120.01, 30], [120, 30.01], [120, 30]]],
    }
    projected = feature("BAD-2", 2)
    projected["geometry"] = {
        "type": "Polygon",
        "coordinates": [
            [[500000, 3300000], [501000, 3300000], [501000, 3301000], [500000, 3300000]]
        ],
    }
    point = feature("BAD-3", 3)
    point["geometry"] = {"type": "Point", "coordinates": [120, 30]}
    too_short = feature("BAD-4", 4)
    too_short["geometry"] = {"type": "Polygon", "coordinates": [[[120, 30], [120.01, 30]]]}
    unnamed = feature("BAD-5", 5)
    del unnamed["properties"]["township_name"]

    plan = plan_grid(geojson(feature("GOOD", 0), bow_tie, projected, point, too_short, unnamed))

    assert [(e.line, e.field) for e in plan.errors] == [
        (2, "geometry"),
        (3, "geometry"),
        (4, "geometry"),
        (5, "geometry"),
        (6, "properties"),
    ]
    text = messages(plan)
    assert text[0] == (
        "feature 2: geometry: is not a valid polygon: its edges cross each other,"
        " at longitude 120.005, latitude 30.005."
    )
    assert "outside WGS84" in text[1]
    assert text[2] == "feature 4: geometry: must be a Polygon or MultiPolygon, not Point."
    assert text[4] == "feature 6: properties: missing properties: township_name"
    with pytest.raises(ImportRefused):
        apply(plan)
    assert not GridCell.objects.exists()
    assert not Township.objects.exists()


def ring(*corners):
    """A closed ring through `corners`, as [x, y] pairs in the order given."""
    return [[list(corner) for corner in (*corners, corners[0])]]


def with_ring(code, col, coordinates):
    cell = feature(code, col)
    cell["geometry"] = {"type": "Polygon", "coordinates": coordinates}
    return cell


def test_latitude_and_longitude_swapped_are_named_as_swapped():
    # Hangzhou written [lat, lng]: latitude 120 is outside WGS84 too, but that is not why.
    hangzhou = ring((30.25, 120.17), (30.26, 120.17), (30.26, 120.18), (30.25, 120.18))
    # Ürümqi written [lat, lng]: within WGS84, near the North Pole.
    urumqi = ring((43.80, 87.60), (43.81, 87.60), (43.81, 87.61), (43.80, 87.61))

    plan = plan_grid(geojson(with_ring("HZ-01", 0, hangzhou), with_ring("WL-01", 1, urumqi)))

    swapped = "latitude and longitude look swapped (GeoJSON writes longitude first)."
    assert messages(plan) == [
        f"feature 1: geometry: {swapped}",
        f"feature 2: geometry: {swapped}",
    ]


def test_a_cell_anywhere_in_wgs84_imports_and_one_on_chinas_border_too():
    """SPEC §5 asks for WGS84: a district outside China (a test bench's, at 0°, 0°) imports;
    only a box that fits China with its axes swapped is refused, as swapped."""
    gulf_of_guinea = ring((0, 0), (0.01, 0), (0.01, 0.01), (0, 0.01))
    # Fuyuan, Heilongjiang, the easternmost county; and a box reaching across the border.
    fuyuan = ring((134.30, 48.36), (134.31, 48.36), (134.31, 48.37), (134.30, 48.37))
    straddling = ring((135.99, 48.0), (136.01, 48.0), (136.01, 48.01), (135.99, 48.01))

    plan = plan_grid(
        geojson(
            with_ring("GG-01", 0, gulf_of_guinea),
            with_ring("FY-01", 1, fuyuan),
            with_ring("FY-02", 2, straddling),
        )
    )

    assert messages(plan) == []


def test_geometry_errors_are_worded_by_us_not_by_shapely_or_python():
    def with_geometry(code, col, geometry):
        cell = feature(code, col)
        cell["geometry"] = geometry
        return cell

    polygon = square(0, 3)["coordinates"]
    collapsed = ring((120, 30), (120.01, 30), (120, 30))
    plan = plan_grid(
        geojson(
            with_geometry("A", 0, None),
            with_geometry("B", 1, {"type": "Polygon", "coordinates": [polygon]}),
            with_geometry("C", 2, {"type": "Polygon", "coordinates": polygon[0]}),
            with_geometry("D", 3, {"type": "Polygon", "coordinates": collapsed}),
            with_geometry("E", 4, {"type": "Polygon", "coordinates": [[[120, 30], [120.01, 30]]]}),
        )
    )

    assert messages(plan) == [
        "feature 1: geometry: must be a Polygon or MultiPolygon, not null (no geometry).",
        "feature 2: geometry: the coordinates do not form a Polygon: a list of positions where"
        " a position [longitude, latitude] belongs: one level of brackets too many",
        "feature 3: geometry: the coordinates do not form a Polygon: a position is"
        " [longitude, latitude] in numbers, not 120.0",
        "feature 4: geometry: is not a valid polygon: a ring has fewer than 3 distinct corners,"
        " at longitude 120, latitude 30.",
        "feature 5: geometry: the coordinates do not form a Polygon: a ring needs at least 4"
        " positions (3 corners, then the first again), not 2",
    ]


def test_a_grid_file_that_is_not_json_says_where_in_our_words():
    (cut_short,) = messages(plan_grid('{"type": "FeatureCollection", "features": ['))
    (broken,) = messages(plan_grid('{"type": "FeatureCollection",\n "features": [}'))
    (csv,) = messages(plan_grid("code,name,township_code,township_name\nA-1,甲,A,甲街道\n"))

    assert cut_short == "file: not valid JSON: the file ends too early (is it cut short?)."
    assert broken == "file: not valid JSON at line 2, column 15 (at “}”)."
    assert csv.startswith("file: this looks like a CSV file, not GeoJSON")


def deeply_nested_grid() -> str:
    """A grid file whose one geometry is arrays in arrays 100,000 deep."""
    placeholder = feature("E-01", 0)
    placeholder["geometry"] = "DEEP"
    return geojson(placeholder).replace('"DEEP"', "[" * 100_000 + "]" * 100_000)


def test_json_nested_too_deeply_is_a_file_error_in_the_command_not_a_traceback(tmp_path):
    path = tmp_path / "grid.geojson"
    path.write_text(deeply_nested_grid(), encoding="utf-8")
    err = StringIO()

    with pytest.raises(CommandError, match="1 error; nothing was imported"):
        call_command("import_grid", str(path), stdout=StringIO(), stderr=err)

    assert err.getvalue() == "file: the JSON is nested too deeply to be a grid file.\n"


def test_feature_properties_that_are_not_text_are_refused_not_stored_as_python_text():
    listed = feature("E-01", 0, name=["a"])
    renaming = feature("E-02", 1, township_name={"x": 1})
    flagged = feature("E-03", 2, community=True)
    decimal = feature(101.0, 3)

    plan = plan_grid(geojson(listed, renaming, flagged, decimal))

    assert messages(plan) == [
        "feature 1: name: must be text, not a list.",
        "feature 2: township_name: must be text, not an object.",
        "feature 3: community: must be text, not true.",
        "feature 4: code: must be text, not 101.0.",
    ]


def test_whole_number_codes_as_a_shapefiles_integer_field_gives_them_are_read_as_digits():
    numbered = feature(101, 0, township=7, township_name="七街道")
    numbered["properties"]["name"] = "网格 101"

    apply(plan_grid(geojson(numbered)))

    cell = GridCell.objects.select_related("township").get(code="101")
    assert (cell.township.code, cell.name) == ("7", "网格 101")


def test_unexpected_feature_properties_are_an_error_as_extra_columns_are():
    plan = plan_grid(
        geojson(feature("GOOD", 0, community="东社区"), feature("BAD", 1, comunity="东"))
    )

    assert messages(plan) == [
        "feature 2: properties: unexpected properties: comunity (the properties are code, "
        "name, township_code, township_name, community)"
    ]


def test_property_names_in_capitals_as_a_shapefiles_fields_are_read():
    shouting = feature("E-01", 0)
    shouting["properties"] = {name.upper(): value for name, value in shouting["properties"].items()}

    plan = plan_grid(geojson(shouting, feature("E-02", 1, Community="东社区")))

    assert plan.errors == []
    assert [(row.key, row.values["community"]) for row in plan.rows] == [
        ("E-01", ""),
        ("E-02", "东社区"),
    ]


def test_a_feature_missing_a_property_is_told_what_is_wrong_with_its_geometry_too():
    # It was told only of the property, and of the geometry on the next run.
    point = feature("E-01", 0)
    point["geometry"] = {"type": "Point", "coordinates": [120, 30]}
    del point["properties"]["township_name"]

    assert messages(plan_grid(geojson(point))) == [
        "feature 1: properties: missing properties: township_name",
        "feature 1: geometry: must be a Polygon or MultiPolygon, not Point.",
    ]


def test_properties_every_feature_lacks_or_adds_are_one_error_not_one_per_feature():
    # ArcGIS's export gives every feature its OBJECTID and Shape_Area.
    features = [feature(f"E-0{i}", i, OBJECTID=i, Shape_Area=1.5) for i in range(1, 4)]
    del features[1]["properties"]["township_name"]

    plan = plan_grid(geojson(*features))

    assert messages(plan) == [
        "properties: in every feature: unexpected properties: OBJECTID, Shape_Area (the "
        "properties are code, name, township_code, township_name, community)",
        "feature 2: properties: missing properties: township_name",
    ]


def test_a_township_with_two_names_in_one_file_is_an_error():
    plan = plan_grid(geojson(feature("E-01", 0), feature("E-02", 1, township_name="别名")))

    assert messages(plan) == [
        "feature 2: township_name: township “EAST” is called “东街道” in feature 1."
    ]


def test_a_township_name_most_features_give_is_right_and_the_odd_ones_out_are_the_errors():
    features = [
        feature(f"A-{i:02d}", i, township="QA1", township_name="测试一街道") for i in range(4)
    ]
    features.append(feature("B-00", 4, township="QA2", township_name="测试一街道"))  # feature 5
    features += [
        feature(f"B-{i:02d}", 5 + i, township="QA2", township_name="测试二镇") for i in range(1, 4)
    ]
    features.append(feature("B-09", 9, township="QA2", township_name="测试二镇 "))  # stripped

    plan = plan_grid(geojson(*features))

    assert messages(plan) == [
        "feature 5: township_name: township “QA2” is called “测试二镇” in feature 6."
    ]
    assert not Township.objects.exists()


def test_a_grid_file_that_declares_another_coordinate_system_is_refused():
    def with_crs(name):
        document = json.loads(geojson(feature("E-01", 0)))
        document["crs"] = {"type": "name", "properties": {"name": name}}
        return json.dumps(document)

    (error,) = messages(plan_grid(with_crs("urn:ogc:def:crs:EPSG::3857")))
    assert error.startswith("crs: the file declares the coordinate system")
    assert "EPSG::3857" in error and "WGS84" in error
    for wgs84 in ("urn:ogc:def:crs:OGC:1.3:CRS84", "EPSG:4326", "urn:ogc:def:crs:EPSG::4326"):
        assert plan_grid(with_crs(wgs84)).errors == []
    # Nor a name that only ends like one.
    assert messages(plan_grid(with_crs("EPSG:14326")))[0].startswith("crs: ")


def test_a_grid_file_in_cgcs2000_as_chinese_gis_offices_deliver_it_is_read_as_wgs84():
    """China's geodetic system agrees with WGS84 to centimetres: refusing it sent every
    township's GIS office to ogr2ogr for nothing."""
    document = json.loads(geojson(feature("E-01", 0)))
    for name in ("EPSG:4490", "urn:ogc:def:crs:EPSG::4490", "urn:ogc:def:crs:EPSG:6.6:4326"):
        document["crs"] = {"type": "name", "properties": {"name": name}}
        assert plan_grid(json.dumps(document)).errors == []


def test_coordinates_written_as_text_are_named_in_the_error():
    quoted = feature("E-01", 0)
    quoted["geometry"]["coordinates"][0][1] = ["120.1", "30.0"]

    (error,) = messages(plan_grid(geojson(quoted)))
    assert error.endswith("coordinates are numbers, not text such as “120.1”")


def test_an_unclosed_ring_is_refused_rather_than_closed_quietly():
    unclosed = feature("E-02", 1)
    unclosed["geometry"]["coordinates"][0].pop()

    assert messages(plan_grid(geojson(feature("E-01", 0), unclosed))) == [
        "feature 2: geometry: a ring is not closed: its last position must repeat its first "
        "(RFC 7946)."
    ]


def test_a_cell_code_that_is_also_a_township_code_is_refused():
    Township.objects.create(code="OLD", name="老街道")
    plan = plan_grid(geojson(feature("EAST", 0), feature("OLD", 1), feature("E-03", 2)))

    assert messages(plan) == [
        "feature 1: code: “EAST” is both a township and a grid cell code: rename one.",
        "feature 2: code: “OLD” is both a township and a grid cell code: rename one.",
    ]
    apply(plan_grid(geojson(feature("C-1", 0))))
    assert messages(plan_grid(geojson(feature("E-09", 0, township="C-1")))) == [
        "feature 1: township_code: “C-1” is both a township and a grid cell code: rename one."
    ]


def test_a_file_that_is_not_a_feature_collection_is_refused():
    assert messages(plan_grid(b"{not json")) == [
        "file: not valid JSON at line 1, column 2 (at “not json”)."
    ]
    assert messages(plan_grid(json.dumps({"type": "Feature"}))) == [
        "type: the file must be a GeoJSON FeatureCollection."
    ]


def test_import_grid_command_prints_cells_and_townships(tmp_path):
    path = tmp_path / "grid.geojson"
    path.write_text(geojson(feature("E-01", 0), feature("E-02", 1)), encoding="utf-8")

    first, _err = run("import_grid", path)
    second, _err = run("import_grid", path)

    assert first.splitlines() == [
        "created 2, updated 0, unchanged 0",
        "townships: created 1, updated 0, unchanged 0",
    ]
    assert second.splitlines()[0] == "created 0, updated 0, unchanged 2"


def shifted(code, col, *, north=0.0, west=0.0, row=3):
    """The feature of the square at (col, row), moved north by a share of a cell, or with
    its west edge pushed west by a share of a cell."""
    moved = feature(code, col)
    moved["geometry"] = square(col, row)
    moved["geometry"]["coordinates"] = [
        [
            [lng - (west * STEP if lng == min(p[0] for p in ring) else 0), lat + north * STEP]
            for lng, lat in ring
        ]
        for ring in moved["geometry"]["coordinates"]
    ]
    return moved


def test_cells_that_overlap_are_imported_with_a_warning_on_the_later_one(world):
    plan = plan_grid(
        geojson(
            feature("E-01", 0),
            feature("E-02", 1),  # shares an edge with E-01: no overlap
            shifted("E-03", 0, north=0.5),  # half of E-01
            feature("E-04", 3),
            shifted("E-05", 4, west=0.005),  # a sliver of E-04: two surveys' edges
            shifted("E-06", 1, row=0, north=0.25),  # three quarters of a stored cell
        )
    )

    assert plan.errors == []
    assert [str(warning) for warning in plan.warnings] == [
        "feature 3: geometry: overlaps cell “E-01” (feature 1) by 50% of the smaller cell;"
        " a point there is placed in the cell with the lower code.",
        "feature 6: geometry: overlaps the stored cell “N-02” (not in this file) by 75% of the"
        " smaller cell; a point there is placed in the cell with the lower code.",
    ]
    assert apply(plan).summary["created"] == 6


def test_the_grid_command_prints_overlaps_as_warnings_and_imports(tmp_path):
    path = tmp_path / "grid.geojson"
    path.write_text(geojson(feature("E-01", 0), shifted("E-02", 0, north=0.5)), encoding="utf-8")

    out, err = run("import_grid", path)

    assert err.splitlines() == [
        "warning: feature 2: geometry: overlaps cell “E-01” (feature 1) by 50% of the smaller"
        " cell; a point there is placed in the cell with the lower code."
    ]
    assert out.splitlines()[0] == "created 2, updated 0, unchanged 0"


def test_import_grid_command_fails_naming_the_feature(tmp_path):
    bad = feature("E-02", 1)
    bad["geometry"] = None
    path = tmp_path / "grid.geojson"
    path.write_text(geojson(feature("E-01", 0), bad), encoding="utf-8")
    err = StringIO()

    with pytest.raises(CommandError):
        call_command("import_grid", str(path), stdout=StringIO(), stderr=err)

    assert "feature 2: geometry: must be a Polygon or MultiPolygon" in err.getvalue()
    assert not GridCell.objects.exists()


# -- responsibilities --------------------------------------------------------------------

RESPONSIBILITIES_HEADER = "category_code,department_code,scope,role,basis,valid_from,valid_to"


def test_responsibilities_import_resolves_every_scope_and_is_idempotent(world):
    data = csv_text(
        RESPONSIBILITIES_HEADER,
        "LAMP,ZJ,,lead,清单 7,,",
        "LAMP,CG,N,lead,北街道协议,2024-01-01,",
        "LAMP,SJ,N-02,assist,网格协议,2024-01-01,2030-12-31",
        "ENV,CG,,lead,权责清单 1 修订,,",  # already in the world: an update of its basis
    )

    plan = plan_responsibilities(data)
    apply(plan)

    assert plan.summary == {"created": 3, "updated": 1, "unchanged": 0}
    by_scope = {
        (r.department.code, r.scope_code): r
        for r in Responsibility.objects.filter(category=world.lamp).select_related(
            "department", "township", "cell"
        )
    }
    assert set(by_scope) == {("ZJ", ""), ("CG", "N"), ("SJ", "N-02")}
    assert by_scope["SJ", "N-02"].valid_to == date(2030, 12, 31)
    assert Responsibility.objects.get(category=world.environment).basis == "权责清单 1 修订"
    assert plan_responsibilities(data).summary == {"created": 0, "updated": 0, "unchanged": 4}
    # The township rule beats the district-wide one: the router saw the bulk import.
    decision = get_index().route(category_id=world.lamp.pk, cell_id=world.n1.pk, on=date.today())
    assert decision.lead_department_id == world.urban.pk


def test_bad_responsibility_rows_each_get_a_line_numbered_message(world):
    before = snapshot(Responsibility)
    data = csv_text(
        RESPONSIBILITIES_HEADER,
        "LAMP,ZJ,,lead,,,",
        "NOPE,ZJ,,lead,,,",
        "LAMP,NOPE,,lead,,,",
        "LAMP,ZJ,NOWHERE,lead,,,",
        "LAMP,ZJ,,boss,,,",
        "LAMP,SJ,,lead,,2024-13-01,",
        "LAMP,CG,,lead,,1/2/2024,",
        "LAMP,CG,S,lead,,2025-01-01,2024-01-01",
        "LAMP,ZJ,,lead,duplicate,,",
    )

    plan = plan_responsibilities(data)

    assert messages(plan) == [
        "line 3: category_code: unknown category “NOPE”.",
        "line 4: department_code: unknown department “NOPE”.",
        "line 5: scope: unknown scope “NOWHERE”: not a township or grid cell code.",
        "line 6: role: “boss” is not a role: use one of lead, assist.",
        "line 7: valid_from: “2024-13-01” is not a date: use YYYY-MM-DD.",
        "line 8: valid_from: “1/2/2024” is not a date: use YYYY-MM-DD.",
        "line 9: valid_to: ends before valid_from.",
        "line 10: row: LAMP/ZJ//lead appears twice (first in line 2).",
    ]
    with pytest.raises(ImportRefused):
        apply(plan)
    assert snapshot(Responsibility) == before


EXCEL_SHORTENED = (
    "“3.30102E+11” is a long number Excel showed in scientific notation and saved so, losing "
    "its digits: in Excel, format the column as Text, type the codes again and save."
)


def test_a_long_code_excel_saved_in_scientific_notation_says_so_wherever_it_stands(world):
    # 330102001001, a 12-digit division code, in a column of Excel's General format.
    rules = plan_responsibilities(
        csv_text(
            RESPONSIBILITIES_HEADER,
            "3.30102E+11,ZJ,,lead,,,",
            "LAMP,3.30102E+11,,lead,,,",
            "LAMP,ZJ,3.30102E+11,lead,,,",
        )
    )
    departments = plan_departments(csv_text(DEPARTMENTS_HEADER, "3.30102E+11,城管局,"))
    users = plan_users(
        csv_text(
            "username,full_name,email,role,township_code,department_code",
            "wang,王,wang@example.org,caseworker,3.30102E+11,",
            "li,李,li@example.org,liaison,,3.30102E+11",
        )
    )

    assert messages(rules) == [
        f"line 2: category_code: {EXCEL_SHORTENED}",
        f"line 3: department_code: {EXCEL_SHORTENED}",
        f"line 4: scope: {EXCEL_SHORTENED}",
    ]
    assert messages(departments) == [f"line 2: code: {EXCEL_SHORTENED}"]
    assert messages(users) == [
        f"line 2: township_code: {EXCEL_SHORTENED}",
        f"line 3: department_code: {EXCEL_SHORTENED}",
    ]


def test_dates_as_excel_saves_them_in_a_chinese_locale_are_read_year_first(world):
    # Opened in Excel and saved again, 2030-12-31 comes back as 2030/12/31.
    bad = plan_responsibilities(csv_text(RESPONSIBILITIES_HEADER, "LAMP,SJ,,assist,,2024/2/30,"))
    assert messages(bad) == ["line 2: valid_from: “2024/2/30” is not a date: use YYYY-MM-DD."]

    apply(
        plan_responsibilities(
            csv_text(RESPONSIBILITIES_HEADER, "LAMP,ZJ,,lead,,2024/1/2,2030/12/31")
        )
    )

    rule = Responsibility.objects.get(category__code="LAMP", department__code="ZJ")
    assert (rule.valid_from, rule.valid_to) == (date(2024, 1, 2), date(2030, 12, 31))


def test_year_first_dates_with_dashes_and_one_digit_months_and_days_are_read(world):
    mixed = plan_responsibilities(csv_text(RESPONSIBILITIES_HEADER, "LAMP,SJ,,assist,,2026-1/1,"))
    assert messages(mixed) == ["line 2: valid_from: “2026-1/1” is not a date: use YYYY-MM-DD."]

    apply(
        plan_responsibilities(
            csv_text(RESPONSIBILITIES_HEADER, "LAMP,ZJ,,lead,,2026-1-1,2026-12-3")
        )
    )

    rule = Responsibility.objects.get(category__code="LAMP", department__code="ZJ")
    assert (rule.valid_from, rule.valid_to) == (date(2026, 1, 1), date(2026, 12, 3))


def test_a_scope_code_that_is_both_a_township_and_a_cell_is_an_error(world):
    Township.objects.create(code="N-01", name="同名街道")

    plan = plan_responsibilities(csv_text(RESPONSIBILITIES_HEADER, "LAMP,ZJ,N-01,lead,,,"))

    assert messages(plan) == [
        "line 2: scope: “N-01” is both a township and a grid cell code: rename one."
    ]


def test_import_responsibilities_command_reports_unknown_codes(world, tmp_path):
    path = tmp_path / "responsibilities.csv"
    path.write_text(csv_text(RESPONSIBILITIES_HEADER, "LAMP,ZJ,,lead,,,", "LAMP,XX,,lead,,,"))
    err = StringIO()

    with pytest.raises(CommandError):
        call_command("import_responsibilities", str(path), stdout=StringIO(), stderr=err)

    assert "line 3: department_code: unknown department “XX”." in err.getvalue()
    assert not Responsibility.objects.filter(category=world.lamp).exists()


# -- users -------------------------------------------------------------------------------

USERS_HEADER = "username,full_name,email,role,township_code,department_code"
USERS = csv_text(
    USERS_HEADER,
    "wang,王网格员,wang@example.org,caseworker,N,",
    "li,李调度,li@example.org,dispatcher,S,",
    "he,何联络员,he@example.org,liaison,,CG",
    "zhou,周主任,zhou@example.org,supervisor,,",
    "root,管理员,root@example.org,admin,,",
)


def test_users_import_creates_users_without_passwords_and_with_role_access(world):
    result = apply(plan_users(USERS))

    assert result.summary == {"created": 5, "updated": 0, "unchanged": 0}
    # The hook for invitations: the new users, saved.
    assert sorted(user.username for user in result.created) == ["he", "li", "root", "wang", "zhou"]
    assert all(user.pk for user in result.created)
    users = {user.username: user for user in User.objects.all()}
    assert not any(user.has_usable_password() for user in users.values())
    assert users["wang"].township == world.north
    assert users["he"].department == world.urban
    assert users["zhou"].township is None  # a district supervisor
    assert users["he"].is_staff and not users["he"].is_superuser
    assert users["root"].is_staff and users["root"].is_superuser
    assert not users["wang"].is_staff
    assert list(users["he"].groups.values_list("name", flat=True)) == ["liaison"]


def test_users_import_is_idempotent_and_keeps_passwords(world):
    apply(plan_users(USERS))
    wang = User.objects.get(username="wang")
    wang.set_password("chosen-by-wang-1")
    wang.save()

    plan = plan_users(USERS)
    result = apply(plan)

    assert plan.summary == {"created": 0, "updated": 0, "unchanged": 5}
    assert result.created == []
    assert User.objects.get(username="wang").check_password("chosen-by-wang-1")


def test_changing_a_users_role_updates_access(world):
    apply(plan_users(USERS))

    plan = plan_users(csv_text(USERS_HEADER, "he,何联络员,he@example.org,caseworker,N,"))
    apply(plan)

    assert plan.rows[0].changes["role"] == ("liaison", "caseworker")
    he = User.objects.get(username="he")
    assert (he.role, he.is_staff, he.department_id) == ("caseworker", False, None)
    assert list(he.groups.values_list("name", flat=True)) == ["caseworker"]


def test_a_role_written_as_its_name_or_in_capitals_says_which_code_to_write(world):
    # The Chinese admin's user list and import preview show a caseworker as "网格员".
    users = plan_users(
        csv_text(
            USERS_HEADER,
            "wang,王,wang@example.org,网格员,N,",
            "li,李,li@example.org,Dispatcher,N,",
            "zhou,周,zhou@example.org,department liaison,,CG",
            "he,何,he@example.org,组长,N,",
        )
    )
    rules = plan_responsibilities(
        csv_text(RESPONSIBILITIES_HEADER, "LAMP,ZJ,,牵头,,,", "LAMP,SJ,,Assist,,,")
    )

    assert messages(users) == [
        "line 2: role: “网格员” is not a role: write it as “caseworker”.",
        "line 3: role: “Dispatcher” is not a role: write it as “dispatcher”.",
        "line 4: role: “department liaison” is not a role: write it as “liaison”.",
        "line 5: role: “组长” is not a role: use one of caseworker, dispatcher, liaison, "
        "supervisor, admin.",
    ]
    assert messages(rules) == [
        "line 2: role: “牵头” is not a role: write it as “lead”.",
        "line 3: role: “Assist” is not a role: write it as “assist”.",
    ]


def test_an_address_another_user_has_imports_with_a_warning_given_once(world):
    make_user("wang", User.Role.CASEWORKER, township=world.north)  # wang@example.org
    data = csv_text(
        USERS_HEADER,
        "li,李,wang@example.org,caseworker,N,",
        "zhou,周,office@example.org,dispatcher,N,",
        "he,何,OFFICE@example.org,dispatcher,N,",
        "qian,钱,qian@example.org,dispatcher,N,",
    )

    plan = plan_users(data)
    apply(plan)

    assert [str(warning) for warning in plan.warnings] == [
        "line 2: email: “wang@example.org” is also the address of “wang”: right for a shared "
        "mailbox; otherwise correct it, as their invitations and escalations would go to one "
        "mailbox.",
        "line 3: email: “office@example.org” is also the address of “he”: right for a shared "
        "mailbox; otherwise correct it, as their invitations and escalations would go to one "
        "mailbox.",
        "line 4: email: “OFFICE@example.org” is also the address of “zhou”: right for a shared "
        "mailbox; otherwise correct it, as their invitations and escalations would go to one "
        "mailbox.",
    ]
    assert User.objects.filter(username__in=["li", "zhou", "he", "qian"]).count() == 4
    # A shared mailbox kept: the next import of the same file has nothing to warn of.
    again = plan_users(data)
    assert again.summary["unchanged"] == 4
    assert again.warnings == []


def test_bad_user_rows_each_get_a_line_numbered_message(world):
    data = csv_text(
        USERS_HEADER,
        "ok,好人,ok@example.org,caseworker,N,",
        "boss,老板,boss@example.org,boss,,",
        "lonely,无部门,lonely@example.org,liaison,,",
        "nowhere,无街道,nowhere@example.org,caseworker,,",
        "lost,迷路,lost@example.org,dispatcher,MARS,",
        "ghost,幽灵,ghost@example.org,liaison,,XX",
        "bad name,空格,space@example.org,caseworker,N,",
        "mute,无邮箱,,caseworker,N,",
    )

    plan = plan_users(data)

    assert messages(plan) == [
        "line 3: role: “boss” is not a role: use one of caseworker, dispatcher, liaison, "
        "supervisor, admin.",
        "line 4: department_code: a liaison needs a department.",
        "line 5: township_code: a caseworker needs a township.",
        "line 6: township_code: unknown township “MARS”.",
        "line 7: department_code: unknown department “XX”.",
        "line 8: username: “bad name” may contain only letters, digits and @ . + - _",
        "line 9: email: is required (invitations and escalations go there).",
    ]
    with pytest.raises(ImportRefused):
        apply(plan)
    assert not User.objects.exists()


def test_an_import_that_would_leave_no_active_superuser_is_refused(world, tmp_path):
    admin = make_user("admin", User.Role.ADMIN)
    retired = make_user("retired", User.Role.ADMIN, is_active=False)
    data = csv_text(USERS_HEADER, "admin,系统管理员,admin@example.org,caseworker,N,")

    plan = plan_users(data)

    assert messages(plan) == [
        "line 2: role: this would take the administrator rights of “admin” away and leave "
        "no active administrator: keep the role admin for at least one active user."
    ]
    path = tmp_path / "users.csv"
    path.write_text(data, encoding="utf-8")
    with pytest.raises(CommandError, match="nothing was imported"):
        run("import_users", path)
    admin.refresh_from_db()
    assert admin.is_superuser and admin.role == User.Role.ADMIN
    # An inactive superuser cannot sign in: promoting them does not keep the site run.
    revived = csv_text(
        USERS_HEADER,
        "admin,系统管理员,admin@example.org,caseworker,N,",
        f"retired,退休,{retired.email},admin,,",
    )
    assert [error.line for error in plan_users(revived).errors] == [2]


def test_usernames_that_differ_only_in_letter_case_are_refused(world):
    make_user("boss", User.Role.CASEWORKER, township=world.north)
    data = csv_text(
        USERS_HEADER,
        "BOSS,老板,boss2@example.org,caseworker,N,",
        "newbie,新人,n@example.org,caseworker,N,",
        "NEWBIE,新人,n2@example.org,caseworker,N,",
    )

    assert messages(plan_users(data)) == [
        "line 2: username: “BOSS” differs from the existing “boss” only in letter case.",
        "line 4: username: NEWBIE appears twice (first in line 3).",
    ]


def test_one_run_reports_a_bad_row_and_the_last_administrator_together(world):
    make_user("boss", User.Role.ADMIN)
    data = csv_text(
        USERS_HEADER,
        "x1,某人,x1@example.org,god,,",
        "boss,老板,boss@example.org,caseworker,N,",
    )

    assert [error.line for error in plan_users(data).errors] == [2, 3]
    # A bad row that names an admin may be the file's administrator once mended.
    mended_later = csv_text(
        USERS_HEADER,
        "boss,老板,boss@example.org,caseworker,N,",
        "heir,新管理员,heir@,admin,,",
    )
    assert [error.field for error in plan_users(mended_later).errors] == ["email"]


def test_an_import_may_hand_administrator_rights_to_someone_else(world):
    make_user("admin", User.Role.ADMIN)
    make_user("deputy", User.Role.ADMIN)

    handed_over = plan_users(
        csv_text(USERS_HEADER, "admin,系统管理员,admin@example.org,caseworker,N,")
    )
    to_a_newcomer = plan_users(
        csv_text(
            USERS_HEADER,
            "admin,系统管理员,admin@example.org,caseworker,N,",
            "deputy,副管理员,deputy@example.org,supervisor,N,",
            "heir,新管理员,heir@example.org,admin,,",
        )
    )

    assert handed_over.errors == [] and to_a_newcomer.errors == []
    apply(to_a_newcomer)
    assert list(User.objects.filter(is_superuser=True).values_list("username", flat=True)) == [
        "heir"
    ]


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (
            "zhou,周主任,zhou@example.org,supervisor,,CG",
            "line 2: department_code: a supervisor has no department: a supervisor sees "
            "their township's cases, or with no township every case in the district; "
            "department heads receive escalations as their department's supervisor emails.",
        ),
        (
            "wang,王网格员,wang@example.org,caseworker,N,CG",
            "line 2: department_code: a caseworker has no department: they work on their "
            "township's cases; only a department liaison has a department.",
        ),
        (
            "root,管理员,root@example.org,admin,,CG",
            "line 2: department_code: an administrator has no department: administrators "
            "see every case; only a department liaison has a department.",
        ),
    ],
)
def test_a_department_is_refused_for_every_role_but_a_liaison(world, row, expected):
    plan = plan_users(csv_text(USERS_HEADER, row))

    assert messages(plan) == [expected]
    assert not User.objects.exists()


def test_import_users_command_prints_the_summary(world, tmp_path):
    path = tmp_path / "users.csv"
    path.write_bytes(("\ufeff" + USERS).encode())

    first, _err = run("import_users", path)
    second, _err = run("import_users", path)

    assert first.splitlines()[0] == "created 5, updated 0, unchanged 0"
    assert second.splitlines()[0] == "created 0, updated 0, unchanged 5"


def test_a_big_file_reports_progress_on_stderr(tmp_path):
    lines = ["code,name,supervisor_emails"] + [f"D{i},部门{i}," for i in range(2500)]
    path = tmp_path / "departments.csv"
    path.write_text("\n".join(lines), encoding="utf-8")

    out, err = run("import_departments", path)

    assert "created 2500, updated 0, unchanged 0" in out
    assert "1000 rows read" in err and "2000 rows read" in err
    assert Department.objects.count() == 2500


def test_a_plan_that_went_stale_before_apply_saves_nothing():
    plan = plan_departments(DEPARTMENTS)
    Department.objects.create(code="WATER", name="抢先建的水务")  # someone else, meanwhile

    with pytest.raises(IntegrityError), transaction.atomic():
        apply(plan)

    assert list(Department.objects.values_list("code", flat=True)) == ["WATER"]


def test_excel_style_crlf_and_quoted_multiline_fields_keep_line_numbers_right():
    data = (
        'code,name,supervisor_emails\r\nCG,"城管局\r\n(综合执法)",\r\nSJ,市场监管局,oops\r\n'
    ).encode()

    plan = plan_departments(data)

    assert messages(plan) == ["line 4: supervisor_emails: “oops” is not an email address."]


def test_a_grid_file_that_is_not_utf8_is_refused():
    data = geojson(feature("E-01", 0)).encode("gbk")

    assert messages(plan_grid(data))[0].startswith("file: not UTF-8 encoded: byte")


def test_errors_are_line_field_message_tuples():
    plan = plan_departments(csv_text("code,name,supervisor_emails", "CG,,"))

    ((line, field, message),) = plan.errors
    assert (line, field, message) == (2, "name", "is required.")
    assert plan.errors == [(2, "name", "is required.")]


def test_an_email_too_long_to_store_is_a_row_error_not_a_crash(world):
    address = "a" * 64 + "@" + "b" * 60 + "." + "c" * 60 + "." + "d" * 60 + ".example.org"
    data = csv_text(USERS_HEADER, f"long,长邮箱,{address},caseworker,N,")

    plan = plan_users(data)

    assert messages(plan) == ["line 2: email: is longer than 254 characters."]
    assert not User.objects.exists()


def test_an_export_of_users_imports_back_keeping_who_is_a_superuser(world):
    # Set in the admin's user form: a superuser with another role, an administrator who
    # is not one. The file has no column for it.
    make_user("boss", User.Role.ADMIN)
    User.objects.filter(pk=make_user("root", User.Role.SUPERVISOR).pk).update(is_superuser=True)
    User.objects.filter(pk=make_user("helper", User.Role.ADMIN).pk).update(is_superuser=False)
    sync_role_groups(users=User.objects.all())

    plan = plan_users(export_users())

    assert plan.errors == []
    assert {row.key: row.changes for row in plan.rows if row.action != UNCHANGED} == {}
    apply(plan)
    assert sorted(User.objects.filter(is_superuser=True).values_list("username", flat=True)) == [
        "boss",
        "root",
    ]


@pytest.mark.parametrize(
    "start",
    [
        b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00b\xee\x9dh",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
    ],
)
def test_an_excel_workbook_is_named_as_one_with_how_to_save_it_as_csv(start):
    plan = plan_departments(start + bytes(range(256)))

    assert messages(plan) == [
        "file: this is an Excel workbook, not a CSV file: in Excel, save it as "
        "“CSV UTF-8 (Comma delimited)”."
    ]


def test_a_zip_given_as_the_grid_says_to_convert_it_to_geojson():
    plan = plan_grid(b"PK\x03\x04\x14\x00\x00\x00\x08\x00\x9c\xb5")

    assert messages(plan) == [
        "file: this is a ZIP archive or an Office file, not GeoJSON text: convert the grid "
        "to GeoJSON in WGS84, e.g. with ogr2ogr -f GeoJSON -t_srs EPSG:4326."
    ]


def test_a_utf16_file_says_it_is_utf16_and_to_save_it_as_utf8():
    data = "\ufeff" + csv_text("code\tname\tsupervisor_emails", "CG\t城管局\t")

    [message] = messages(plan_departments(data.encode("utf-16-le")))

    assert message == (
        "line 1: file: not UTF-8 encoded: byte 1 of the file is invalid "
        "(it is UTF-16, as Excel's “Unicode Text” saves: save it as CSV UTF-8)."
    )


@pytest.mark.parametrize("escape", ["\\u0000", "\\ud800"])
def test_a_json_escape_no_database_stores_is_a_feature_error_not_a_crash(escape):
    data = geojson(feature("E-01", 0, community="x")).replace('"x"', f'"东{escape}社区"')

    plan = plan_grid(data)

    assert messages(plan) == [
        "feature 1: community: contains a NUL character or a broken Unicode escape: remove it."
    ]
    with pytest.raises(ImportRefused):
        apply(plan)
    assert not GridCell.objects.exists()


def test_a_quote_never_closed_is_named_on_its_line_not_as_a_field_count():
    data = csv_text(
        "code,name,parent_code,accept_hours,resolve_days",
        "ENV,环境,,4,3",
        'LAMP,"路灯,ENV,2,1',
        "ADS,小广告,ENV,4,3",
    )

    plan = plan_categories(data)

    assert messages(plan) == [
        'line 3: row: a quote (") opened on this line is never closed, so the rest of the file '
        'was read as one value: close it, or write a quote inside a quoted value as two ("").'
    ]
    # The last value may still span lines when its quotes are closed.
    closed = csv_text(data.splitlines()[0], 'LAMP,路灯,,4,"3', '"')
    assert plan_categories(closed).errors == []


@pytest.mark.parametrize("end", ["\n", ""])
def test_a_quote_never_closed_on_the_last_line_is_named_too(end):
    """It has no line after it to swallow: the reader kept the rest of the row as one value,
    and the row was reported as one of too few fields."""
    header = "code,name,parent_code,accept_hours,resolve_days"
    data = f'{header}\nENV,环境,,4,3\nLAMP,"路灯,ENV,2,1{end}'

    assert messages(plan_categories(data)) == [
        'line 3: row: a quote (") opened on this line is never closed, so the rest of the file '
        'was read as one value: close it, or write a quote inside a quoted value as two ("").'
    ]
    # A quote inside an unquoted value opens nothing: the row is read as it stands.
    inches = f'{header}\nENV,环境,,4,3\nLAMP,5" 路灯,ENV,2,1{end}'
    assert plan_categories(inches).errors == []


def test_a_grid_files_progress_counts_features(tmp_path, monkeypatch):
    monkeypatch.setattr("departments.importers.plans.PROGRESS_EVERY", 2)
    path = tmp_path / "grid.geojson"
    path.write_text(geojson(*(feature(f"E-{i}", i) for i in range(4))), encoding="utf-8")

    _out, err = run("import_grid", path)

    assert "2 features read" in err and "4 features read" in err and "rows" not in err
