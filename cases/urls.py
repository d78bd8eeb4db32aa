from django.urls import path, register_converter

from cases.views import detail, lists, reporting


class CaseNumberConverter:
    """Case numbers are `YYYY-NNNNNN` (cases/services/intake.py)."""

    regex = r"\d{4}-\d{6}"

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
    path("<case_number:number>/", detail.case_detail, name="detail"),
    path("<case_number:number>/<str:transition>/", detail.case_transition, name="transition"),
]
