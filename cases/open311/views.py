"""The Open311 GeoReport v2 endpoints (SPEC §7), one function per URL.

Views parse parameters and render; reads go through `cases/open311/selectors.py`, the
post through `cases/services/open311.py`. Errors are the specification's error document
with its HTTP status: 404 not found, 403 bad api_key, 400 anything else, 429 when a key
posts too fast, and 503 while the database cannot be reached.
"""

import functools
import logging
import math
import re
from datetime import UTC, datetime, time, timedelta

from django.conf import settings
from django.core.exceptions import (
    RequestDataTooBig,
    TooManyFieldsSent,
    TooManyFilesSent,
    ValidationError,
)
from django.core.validators import URLValidator, validate_email
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

from cases.open311 import selectors, serializers
from cases.open311.formats import FORMATS, render, render_errors
from cases.open311.openapi import openapi_document
from cases.services.apikeys import api_key_authenticate, api_key_throttle, api_key_touch
from cases.services.open311 import (
    IdempotencyKeyReused,
    ServiceNotFound,
    ServiceRequestInput,
    open311_request_create,
    open311_request_refused,
    service_notice_for,
)

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
# Sortable; bump when the API's behaviour changes.
CHANGESET = "2026-11-23T00:00:00Z"
MAX_WINDOW = timedelta(days=90)
MAX_RESULTS = 1000
FORM_CONTENT_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
# How long a client waits before retrying while the database is out of reach.
RETRY_AFTER_SECONDS = 30

logger = logging.getLogger(__name__)
# Raised where a view first reads request.POST or request.FILES.
UNREADABLE_BODY = (RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent, MultiPartParserError)


class ApiError(Exception):
    def __init__(self, status: int, description: str, headers: dict | None = None):
        super().__init__(description)
        self.status = status
        self.description = description
        self.headers = headers or {}


def _base_url(request) -> str:
    """The endpoint's base URL, e.g. https://example.org/open311/v2/ (what clients append to)."""
    discovery_path = reverse("open311:discovery", kwargs={"fmt": "json"})
    return request.build_absolute_uri(discovery_path.rsplit("/", 1)[0] + "/")


def param(request, name: str) -> str | None:
    """A parameter from the form body or the query string; an empty one is absent (spec)."""
    value = request.POST.get(name) if request.method == "POST" else None
    if value is None or not value.strip():
        value = request.GET.get(name)
    if value is None or not value.strip():
        return None
    if "\x00" in value:
        raise ApiError(400, _("%(name)s contains a NUL character.") % {"name": name})
    return value.strip()


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
    if known and given is not None and given not in known:
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


def _comma_list(raw: str | None) -> list[str]:
    return [item.strip() for item in (raw or "").split(",") if item.strip()]


UNENCODED_PLUS = re.compile(r"(T\d\d:\d\d(?::\d\d(?:\.\d+)?)?) (\d\d(?::?\d\d)?)$")


def _parse_when(name: str, raw: str | None) -> datetime | None:
    """A W3C datetime (a bare date is its midnight); no offset means TIME_ZONE."""
    if raw is None:
        return None
    # An unencoded "+08:00" in a query string arrives as " 08:00".
    raw = UNENCODED_PLUS.sub(r"\1+\2", raw)
    try:
        value = parse_datetime(raw)
        if value is None:
            day = parse_date(raw)
            value = datetime.combine(day, time.min) if day else None
    except ValueError:
        value = None
    if value is None:
        raise ApiError(
            400,
            _("%(name)s must be a W3C datetime such as 2026-01-31T08:00:00+08:00.")
            % {"name": name},
        )
    try:
        if timezone.is_naive(value):
            value = timezone.make_aware(value)
        # In UTC: the database refuses offsets beyond ±15:59, which ISO 8601 allows.
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ApiError(400, _("%(name)s is out of range.") % {"name": name}) from None


def _window(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    """The requested_datetime range: at most 90 days, the last 90 days by default (spec)."""
    try:
        return _span(start, end)
    except OverflowError:  # 90 days beyond year 1 or 9999
        raise ApiError(400, _("start_date or end_date is out of range.")) from None


def _span(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    if start and end:
        if end < start:
            raise ApiError(400, _("end_date is before start_date."))
        if end - start > MAX_WINDOW:
            raise ApiError(400, _("start_date and end_date may not span more than 90 days."))
        return start, end
    if start:
        return start, start + MAX_WINDOW
    end = end or timezone.now()
    return end - MAX_WINDOW, end


def _extensions(request) -> bool:
    return (param(request, "extensions") or "").lower() in ("true", "1")


@open311_view("GET", "POST")
def requests(request, fmt):
    if request.method == "POST":
        return _post_request(request, fmt)
    extensions = _extensions(request)
    numbers = _comma_list(param(request, "service_request_id"))
    if numbers:
        # service_request_id overrides every other filter (spec).
        cases = selectors.service_requests(extensions=extensions).filter(number__in=numbers)
    else:
        # Lenient on case alone: `status=Open` has one meaning.
        statuses = [status.lower() for status in _comma_list(param(request, "status"))]
        unknown = [s for s in statuses if s not in serializers.STATUS_VALUES]
        if unknown:
            raise ApiError(400, _("status must be open or closed, or both comma-separated."))
        end_date = _parse_when("end_date", param(request, "end_date"))
        start, end = _window(_parse_when("start_date", param(request, "start_date")), end_date)
        if end_date is not None and end.microsecond == 0:
            # Times are shown to the second: an end_date copied from a requested_datetime
            # takes in the request stored at a fraction past it.
            end += timedelta(microseconds=999_999)
        cases = selectors.service_requests(
            extensions=extensions,
            service_codes=_comma_list(param(request, "service_code")),
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
        selectors.service_requests(extensions=_extensions(request))
        .filter(number=service_request_id)
        .first()
    )
    if case is None:
        raise ApiError(
            404,
            _("service_request_id %(id)s was not found.") % {"id": service_request_id},
        )
    return render(
        [serializers.service_request(case, extensions=_extensions(request))],
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


def _float(name: str, raw: str | None, low: float, high: float) -> float | None:
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not low <= value <= high:
        raise ApiError(
            400,
            _("%(name)s must be a WGS84 coordinate between %(low)s and %(high)s.")
            % {"name": name, "low": low, "high": high},
        )
    return value


ATTRIBUTE_NAME = re.compile(r"^attribute\[([^\[\]]+)\](\[\])?$")


def _attributes(request) -> dict:
    """`attribute[code]=value` and, for multivaluelists, `attribute[code][]=v1&…`."""
    attributes: dict = {}
    for name in request.POST:
        match = ATTRIBUTE_NAME.match(name)
        if match is None:
            continue
        values = [v.strip() for v in request.POST.getlist(name) if v.strip()]
        if any("\x00" in v for v in values):
            raise ApiError(400, _("An attribute contains a NUL character."))
        code, is_list = match.group(1), bool(match.group(2))
        if is_list:
            attributes[code] = values
        elif values:
            attributes[code] = values[-1]
    return attributes


def _parse_post(request) -> ServiceRequestInput:
    service_code = param(request, "service_code")
    if service_code is None:
        raise ApiError(400, _("service_code is required."))
    lat = _float("lat", param(request, "lat"), -90, 90)
    lng = _float("long", param(request, "long"), -180, 180)
    if (lat is None) != (lng is None):
        raise ApiError(400, _("lat and long must be given together."))
    address_string = param(request, "address_string") or ""
    address_id = param(request, "address_id") or ""
    if lat is None and not address_string and not address_id:
        raise ApiError(
            400, _("A location is required: lat and long, address_string or address_id.")
        )
    email = param(request, "email") or ""
    if email:
        try:
            validate_email(email)
        except ValidationError:
            raise ApiError(400, _("email is not a valid address.")) from None
    media_url = param(request, "media_url") or ""
    if media_url:
        try:
            URLValidator(schemes=["http", "https"])(media_url)
        except ValidationError:
            raise ApiError(400, _("media_url must be an http or https URL.")) from None
        if len(media_url) > 1000:
            raise ApiError(400, _("media_url is too long."))
    return ServiceRequestInput(
        service_code=service_code,
        lat=lat,
        lng=lng,
        address_string=address_string,
        address_id=address_id,
        description=param(request, "description") or "",
        first_name=param(request, "first_name") or "",
        last_name=param(request, "last_name") or "",
        phone=param(request, "phone") or "",
        email=email,
        device_id=param(request, "device_id") or "",
        account_id=param(request, "account_id") or "",
        media_url=media_url,
        attributes=_attributes(request),
        photos=tuple(request.FILES.getlist("media")),
        idempotency_key=_idempotency_key(request),
    )


def _idempotency_key(request) -> str:
    key = request.headers.get("Idempotency-Key") or param(request, "idempotency_key") or ""
    key = key.strip()
    if len(key) > 255:
        raise ApiError(400, _("Idempotency-Key is longer than 255 characters."))
    return key


def _post_request(request, fmt) -> HttpResponse:
    if request.content_type not in FORM_CONTENT_TYPES:
        # Its fields would all look missing, the api_key first.
        raise ApiError(
            400,
            _("Send the fields form-encoded (%(types)s), not as %(type)s.")
            % {"types": " or ".join(FORM_CONTENT_TYPES), "type": request.content_type or "?"},
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
        data = _parse_post(request)
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
            api_key=key, service_code=param(request, "service_code") or "", http_status=status
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
