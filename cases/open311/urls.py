"""Routes of the Open311 GeoReport v2 API, included at /open311/v2/ (SPEC §7).

Each resource carries its format as a suffix, as the specification has it.
"""

from django.urls import re_path

# The API's admin pages (keys, request log) are registered from here: the admin's
# autodiscovery only imports `cases/admin`, which this package does not own.
from cases.open311 import admin as _admin  # noqa: F401
from cases.open311 import views

app_name = "open311"

FMT = r"(?P<fmt>json|xml)"

urlpatterns = [
    re_path(rf"^discovery\.{FMT}$", views.discovery, name="discovery"),
    re_path(rf"^services\.{FMT}$", views.service_list, name="services"),
    re_path(
        rf"^services/(?P<service_code>[^/]+?)\.{FMT}$", views.service_definition, name="service"
    ),
    re_path(rf"^requests\.{FMT}$", views.requests, name="requests"),
    re_path(
        rf"^requests/(?P<service_request_id>[^/]+?)\.{FMT}$", views.request_detail, name="request"
    ),
    re_path(rf"^tokens/(?P<token>[^/]+?)\.{FMT}$", views.token_detail, name="token"),
    re_path(r"^openapi\.json$", views.openapi, name="openapi"),
    re_path(r"^(?P<path>.*)$", views.not_found),
]
