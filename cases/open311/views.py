"""The Open311 GeoReport v2 endpoints (SPEC §7), one function per URL.

Views read parameters (`cases/open311/params.py`) and render; reads go through
`cases/open311/selectors.py`, the post through `cases/services/open311.py`. Errors are the
specification's error document with its HTTP status: 404 not found, 403 bad api_key, 400
anything else, 429 when a key posts too fast, and 503 while the database cannot be reached.
"""

import codecs
import functools
import logging
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import (
    BadRequest,
    RequestDataTooBig,
    TooManyFieldsSent,
    TooManyFilesSent,
    ValidationError,
)
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

from cases.open311 import params, selectors, serializers
from cases.open311.formats import FORMATS, render, render_errors
from cases.open311.openapi import openapi_document
from cases.open311.params import ApiError, param
from cases.services.apikeys import api_key_authenticate, api_key_throttle, api_key_touch
from cases.services.open311 import (
    IdempotencyKeyReused,
    ServiceNotFound,
    open311_request_create,
    open311_request_refused,
    service_notice_for,
)

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
# Sortable; bump when the API's behaviour changes.
CHANGESET = "2026-11-23T00:00:00Z"
MAX_RESULTS = 1000
FORM_CONTENT_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
# How long a client waits before retrying while the database is out of reach.
RETRY_AFTER_SECONDS = 30

logger = logging.getLogger(__name__)
# Raised where a view first reads request.POST or request.FILES (BadRequest: a form body
# in a charset other than UTF-8).
UNREADABLE_BODY = (
    BadRequest,
    RequestDataTooBig,
    TooManyFieldsSent,
    TooManyFilesSent,
    MultiPartParserError,
)


def _base_url(request) -> str:
    """The endpoint's base URL, e.g. https://example.org/open311/v2/ (what clients append to)."""
    discovery_path = reverse("open311:discovery", kwargs={"fmt": "json"})
    return request.build_absolute_uri(discovery_path.rsplit("/", 1)[0] + "/")


def _check_jurisdiction(request) -> None:
    """One jurisdiction per endpoint: `jurisdiction_id` may be ignored unless ids are
    configured, in which case an unknown one is not found, and a missing one is an error
    when there are several (spec)."""
    known = getattr(settings, "OPEN311_JURISDICTION_IDS", [])
    given = param(request, "jurisdiction_id")
    if given is None and len(known) > 1:
        raise ApiError(
            400,
            _("jurisdiction_id is required: this endpoint serves %(ids)s.")
            % {"ids": ", ".join(known)},
        )
    # Domain names, as the spec's examples are: in any letter case.
    if known and given is not None and given.casefold() not in {k.casefold() for k in known}:
        raise ApiError(404, _("jurisdiction_id %(id)s was not found.") % {"id": given})


def open311_view(*methods: str, jurisdictional: bool = True):
    """Check the method and the jurisdiction (unless the view is not `jurisdictional`, as
    discovery), and turn `ApiError`, or a database out of reach, into the error document.

    API clients carry no session or CSRF token; POST is authorised by `api_key` instead.
    """

    def decorate(view):
        @functools.wraps(view)
        def wrapper(request, *args, fmt: str, **kwargs):
            allowed = {*methods, "HEAD"} if "GET" in methods else set(methods)
            try:
                if request.encoding and codecs.lookup(request.encoding).name == "utf-8":
                    # Django reads a form body only under the label "utf-8"; "utf8" and
                    # "UTF8", which clients send too, name the same encoding.
                    request.encoding = "utf-8"
                if request.method not in allowed:
                    raise ApiError(
                        405,
                        _("%(method)s is not allowed here.") % {"method": request.method},
                        {"Allow": ", ".join(sorted(allowed))},
                    )
                if any("\x00" in str(value) for value in kwargs.values()):
                    raise ApiError(404, _("Not found."))
                if jurisdictional:
                    _check_jurisdiction(request)
                return view(request, *args, fmt=fmt, **kwargs)
            except (OperationalError, InterfaceError):
                # An API client understands a 503 in its format and retries (a post with
                # its idempotency key safely); Django's HTML 500 page means nothing to it.
                logger.exception("Open311 %s %s: database unavailable", request.method, fmt)
                error = ApiError(
                    503,
                    _("The service is unavailable for a moment. Try again later."),
                    {"Retry-After": str(RETRY_AFTER_SECONDS)},
                )
            except UNREADABLE_BODY as caught:
                # Django would answer its own HTML 400 page.
                error = ApiError(
                    400, _("The request body could not be read: %(why)s") % {"why": caught}
                )
            except ApiError as caught:
                error = caught
            response = render_errors(
                [(error.status, error.description)], fmt=fmt, status=error.status
            )
            for header, value in error.headers.items():
                response[header] = value
            return response

        return csrf_exempt(wrapper)

    return decorate


# --- discovery and services -------------------------------------------------------------


@open311_view("GET", jurisdictional=False)
def discovery(request, fmt):
    base = _base_url(request)
    data = {
        "changeset": CHANGESET,
        "contact": getattr(settings, "OPEN311_CONTACT", "") or settings.DEFAULT_FROM_EMAIL,
        "key_service": getattr(settings, "OPEN311_KEY_SERVICE", "")
        or _("Ask the district administrators for a key."),
        "endpoints": [
            {
                "specification": SPECIFICATION,
                "url": base,
                "changeset": CHANGESET,
                "type": getattr(settings, "OPEN311_ENDPOINT_TYPE", "production"),
                "formats": [FORMATS["xml"].split(";")[0], FORMATS["json"].split(";")[0]],
            }
        ],
    }
    return render(data, root="discovery", fmt=fmt)


@open311_view("GET")
def service_list(request, fmt):
    return render(
        [serializers.service(category) for category in selectors.services()],
        root="services",
        fmt=fmt,
    )


@open311_view("GET")
def service_definition(request, service_code, fmt):
    category = selectors.service(service_code)
    if category is None:
        raise ApiError(404, _("service_code %(code)s was not found.") % {"code": service_code})
    return render(serializers.definition(category), root="service_definition", fmt=fmt)


# --- service requests -------------------------------------------------------------------


@open311_view("GET", "POST")
def requests(request, fmt):
    if request.method == "POST":
        return _post_request(request, fmt)
    extensions = params.extensions_requested(request)
    numbers = params.comma_list(param(request, "service_request_id"))
    if numbers:
        # service_request_id overrides every other filter (spec).
        cases = selectors.service_requests(extensions=extensions).filter(number__in=numbers)
    else:
        # Lenient on case alone: `status=Open` has one meaning.
        statuses = [status.lower() for status in params.comma_list(param(request, "status"))]
        unknown = [s for s in statuses if s not in serializers.STATUS_VALUES]
        if unknown:
            raise ApiError(400, _("status must be open or closed, or both comma-separated."))
        end_date = params.parse_when("end_date", param(request, "end_date"))
        start, end = params.window(
            params.parse_when("start_date", param(request, "start_date")), end_date
        )
        if end_date is not None and end.microsecond == 0:
            # Times are shown to the second: an end_date copied from a requested_datetime
            # takes in the request stored at a fraction past it.
            end += timedelta(microseconds=999_999)
        cases = selectors.service_requests(
            extensions=extensions,
            service_codes=params.comma_list(param(request, "service_code")),
            statuses=statuses,
            start=start,
            end=end,
        )
    return render(
        [serializers.service_request(case, extensions=extensions) for case in cases[:MAX_RESULTS]],
        root="service_requests",
        fmt=fmt,
    )


@open311_view("GET")
def request_detail(request, service_request_id, fmt):
    case = (
        selectors.service_requests(extensions=params.extensions_requested(request))
        .filter(number=service_request_id)
        .first()
    )
    if case is None:
        raise ApiError(
            404,
            _("service_request_id %(id)s was not found.") % {"id": service_request_id},
        )
    return render(
        [serializers.service_request(case, extensions=params.extensions_requested(request))],
        root="service_requests",
        fmt=fmt,
    )


@open311_view("GET")
def token_detail(request, token, fmt):
    api_request = selectors.api_request_by_token(token)
    if api_request is None:
        raise ApiError(404, _("token %(token)s was not found.") % {"token": token})
    return render(
        [{"service_request_id": api_request.case.number, "token": str(api_request.token)}],
        root="service_requests",
        fmt=fmt,
    )


def _service_code_as_sent(request) -> str:
    """The posted service code for the log of refusals, whatever is wrong with it (`param`
    would refuse a NUL again, and the refusal would go unlogged)."""
    raw = request.POST.get("service_code") or request.GET.get("service_code") or ""
    return raw.replace("\x00", "").strip()


def _post_request(request, fmt) -> HttpResponse:
    # A POST with no body at all (`curl -X POST 'requests.json?api_key=…'`) is read from
    # its query string, as `param` reads a field missing from a form body.
    if request.content_type not in FORM_CONTENT_TYPES and request.body:
        # Its fields would all look missing, the api_key first.
        raise ApiError(
            400,
            _("Send the fields form-encoded (%(types)s), not as %(type)s.")
            % {
                "types": " or ".join(FORM_CONTENT_TYPES),
                "type": request.content_type or _("a body with no Content-Type"),
            },
        )
    if not params.sent_in_utf8(request):
        raise ApiError(
            400, _("The fields are not UTF-8 encoded: GeoReport v2 reads every field as UTF-8.")
        )
    raw_key = param(request, "api_key")
    if raw_key is None:
        raise ApiError(403, _("api_key is required to post a service request."))
    key = api_key_authenticate(raw_key=raw_key)
    if key is None:
        raise ApiError(403, _("api_key is not valid."))
    throttle = api_key_throttle(key=key)
    if not throttle.allowed:
        raise ApiError(
            429,
            _("Too many requests: this key may post %(limit)d per minute. Retry in %(seconds)d s.")
            % {"limit": throttle.limit, "seconds": throttle.retry_after},
            {"Retry-After": str(throttle.retry_after)},
        )
    api_key_touch(key=key)
    try:
        data = params.service_request_input(request)
        api_request = open311_request_create(api_key=key, data=data)
    except (ApiError, ServiceNotFound, IdempotencyKeyReused, ValidationError) as error:
        if isinstance(error, ApiError):
            status, description = error.status, error.description
        elif isinstance(error, ServiceNotFound):
            status, description = 404, str(error)
        elif isinstance(error, IdempotencyKeyReused):
            status, description = 422, str(error)
        else:
            status, description = 400, " ".join(error.messages)
        open311_request_refused(
            api_key=key, service_code=_service_code_as_sent(request), http_status=status
        )
        raise ApiError(status, description) from error
    case = api_request.case
    response = render(
        [
            {
                "service_request_id": case.number,
                "service_notice": service_notice_for(case),
                "account_id": api_request.account_id or None,
            }
        ],
        root="service_requests",
        fmt=fmt,
        status=200,  # GeoReport v2 clients expect 200 OK; the spec names no other status
    )
    if getattr(case, "is_replay", False):
        response["Idempotent-Replayed"] = "true"
    response["Location"] = request.build_absolute_uri(
        reverse("open311:request", kwargs={"service_request_id": case.number, "fmt": fmt})
    )
    return response


@csrf_exempt
def not_found(request, path):
    """Anything else under the API answers the error document, not an HTML page."""
    fmt = "xml" if path.endswith(".xml") else "json"
    return render_errors([(404, _("There is no such resource."))], fmt=fmt, status=404)


# --- the OpenAPI document ---------------------------------------------------------------


@csrf_exempt
@require_safe
def openapi(request):
    return JsonResponse(
        openapi_document(server_url=_base_url(request).rstrip("/")),
        json_dumps_params={"ensure_ascii": False},
    )
