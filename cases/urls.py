from django.urls import path, register_converter

from cases.views import detail, exports, extras, lists, reporting


class CaseNumberConverter:
    """Case numbers are `YYYY-NNNNNN` (cases/services/intake.py), with more digits after
    the 999,999th case of a year (bench/RESULTS.md: a million seeded cases broke /cases/)."""

    regex = r"\d{4}-\d{6,}"

    def to_python(self, value):
        return value

    def to_url(self, value):
        return value


register_converter(CaseNumberConverter, "case_number")

app_name = "cases"
urlpatterns = [
    path("", lists.case_list, name="list"),
    path("new/", reporting.case_new, name="new"),
    path("fallback/", lists.fallback_pool, name="fallback"),
    path("export.csv", exports.export_csv, name="export_csv"),
    path("export.xlsx", exports.export_xlsx, name="export_xlsx"),
    path("<case_number:number>/", detail.case_detail, name="detail"),
    path("<case_number:number>/notes/", extras.case_note_add, name="note_add"),
    path("<case_number:number>/photos/", extras.case_photos_add, name="photos_add"),
    path("<case_number:number>/photos/<int:photo_id>/", extras.case_photo, name="photo"),
    path("<case_number:number>/correct/", extras.case_correct_view, name="correct"),
    path(
        "<case_number:number>/report-for-duty/",
        extras.case_report_for_duty,
        name="report_for_duty",
    ),
    path("<case_number:number>/<str:transition>/", detail.case_transition, name="transition"),
]
