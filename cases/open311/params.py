"""What an Open311 client sent, read into types: parameters (an empty one is absent),
W3C datetimes and the 90-day window, and the fields of a posted service request. Anything
unreadable is an `ApiError` with the HTTP status the specification gives it."""

import math
import re
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import unquote_to_bytes, urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _

from cases.models import ApiRequest, Case, IdempotencyKey
from cases.services.open311 import ServiceRequestInput, full_name

MAX_WINDOW = timedelta(days=90)
# The column's (EmailField's default, RFC 5321's 254); Django's validator allows 320.
EMAIL_MAX_LENGTH = ApiRequest._meta.get_field("email").max_length
# The longest value of each posted parameter: the length of the column that keeps it. A
# longer one is refused, never cut: what is stored is what the client sent.
MAX_LENGTHS = {
    "address_string": Case._meta.get_field("address").max_length,
    "phone": Case._meta.get_field("reporter_phone").max_length,
    "device_id": ApiRequest._meta.get_field("device_id").max_length,
    "account_id": ApiRequest._meta.get_field("account_id").max_length,
    "media_url": ApiRequest._meta.get_field("media_url").max_length,
    "Idempotency-Key": IdempotencyKey._meta.get_field("key").max_length,
}
# first_name and last_name are kept as one name (`full_name`), in one column.
NAME_MAX_LENGTH = Case._meta.get_field("reporter_name").max_length


class MediaUrlValidator(URLValidator):
    """Django's URLValidator, with hosts of one label too (http://intranet/…): inside a
    government network a photo server is often named so. All digits, such a name would be
    read as an IPv4 address: refused."""

    # Django's own pattern (5.2), with a single label beside its host_re.
    single_label_re = r"(?![0-9]+\.?(?:[:/?#]|\Z))" + URLValidator.hostname_re + r"\.?"
    regex = re.compile(
        r"^(?:[a-z0-9.+-]*)://"
        r"(?:[^\s:@/]+(?::[^\s:@/]*)?@)?"
        r"(?:" + URLValidator.ipv4_re + "|" + URLValidator.ipv6_re + "|"
        r"" + URLValidator.host_re + "|" + single_label_re + ")"
        r"(?::[0-9]{1,5})?"
        r"(?:[/?#][^\s]*)?"
        r"\Z",
        re.IGNORECASE,
    )


MEDIA_URL_SCHEMES = ("http", "https")


def media_url_problem(url: str) -> str:
    """What is wrong with `url` as the address of a request's photo, said so that the
    client can mend it; "" when nothing is."""
    if any(character.isspace() for character in url):
        return _("media_url contains a space or a line break: write a space as %20.")
    if url.split("://")[0].lower() not in MEDIA_URL_SCHEMES or "://" not in url:
        return _("media_url must be an http or https URL.")
    netloc = re.split(r"[/?#]", url.split("://", 1)[1], maxsplit=1)[0].rpartition("@")[2]
    try:
        parts = urlsplit(url)
    except ValueError:  # a host in [ ] that is no IPv6 address, or without its ]
        return _("media_url has a bad host name (%(host)s).") % {"host": netloc}
    host = parts.hostname
    try:
        _port = parts.port
    except ValueError:  # not a number from 0 to 65535
        return _("media_url has a bad port (%(port)s): it must be a number from 0 to 65535.") % {
            "port": netloc.rpartition(":")[2]
        }
    if not host:
        return _("media_url names no host (http://host/…).")
    validate = MediaUrlValidator(schemes=list(MEDIA_URL_SCHEMES))
    try:
        validate(url)
    except ValidationError:
        try:
            validate(f"http://[{host}]/" if ":" in host else f"http://{host}/")
        except ValidationError:
            return _("media_url has a bad host name (%(host)s).") % {"host": host}
        return _("media_url is not a valid http or https URL.")
    return ""


class ApiError(Exception):
    def __init__(self, status: int, description: str, headers: dict | None = None):
        super().__init__(description)
        self.status = status
        self.description = description
        self.headers = headers or {}


def param(request, name: str, max_length: int | None = None) -> str | None:
    """A parameter from the form body or the query string; an empty one is absent (spec).
    One longer than `max_length` (once trimmed) is refused."""
    value = request.POST.get(name) if request.method == "POST" else None
    if value is None or not value.strip():
        value = request.GET.get(name)
    if value is None or not value.strip():
        return None
    if "\x00" in value:
        raise ApiError(400, _("%(name)s contains a NUL character.") % {"name": name})
    return _at_most(name, value.strip(), max_length)


def sent_in_utf8(request) -> bool:
    """Whether a posted form-encoded body and the query string are UTF-8 once their
    %-escapes are undone. Django reads them whatever they are, each bad byte a U+FFFD: a
    GBK body sent without its charset would be stored as "��". (A multipart body's fields
    are decoded as it is read, and are not checked.)"""
    sent = [request.META.get("QUERY_STRING", "")]
    if request.content_type == "application/x-www-form-urlencoded":
        sent.append(request.body)
    try:
        for fields in sent:
            unquote_to_bytes(fields).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _at_most(name: str, value: str, max_length: int | None) -> str:
    if max_length is not None and len(value) > max_length:
        raise ApiError(
            400,
            _("%(name)s is longer than %(max)d characters.") % {"name": name, "max": max_length},
        )
    return value


def comma_list(raw: str | None) -> list[str]:
    return [item.strip() for item in (raw or "").split(",") if item.strip()]


UNENCODED_PLUS = re.compile(r"(T\d\d:\d\d(?::\d\d(?:\.\d+)?)?) (\d\d(?::?\d\d)?)$")


W3C_YEAR_OR_MONTH = re.compile(r"(\d{4})(?:-(\d\d))?")


def _first_day(raw: str) -> date | None:
    """The W3C note's coarsest precisions, YYYY and YYYY-MM, as their first day."""
    match = W3C_YEAR_OR_MONTH.fullmatch(raw)
    return date(int(match[1]), int(match[2] or 1), 1) if match else None


def parse_when(name: str, raw: str | None) -> datetime | None:
    """A W3C datetime (a bare date, month or year is its first midnight); no offset means
    TIME_ZONE."""
    if raw is None:
        return None
    # An unencoded "+08:00" in a query string arrives as " 08:00"; RFC 3339 allows a
    # lower-case t and z, the only letters a datetime has.
    raw = UNENCODED_PLUS.sub(r"\1+\2", raw.upper())
    try:
        value = parse_datetime(raw)
        if value is None:
            day = parse_date(raw) or _first_day(raw)
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


def window(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
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


def extensions_requested(request) -> bool:
    return (param(request, "extensions") or "").lower() in ("true", "1")


def _coordinate(name: str, raw: str | None, low: float, high: float) -> float | None:
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


def _filled(values: list[str]) -> list[str]:
    return [v.strip() for v in values if v.strip()]


def _attributes(request) -> dict:
    """`attribute[code]=value` and, for multivaluelists, `attribute[code][]=v1&…`, from
    the form body or, as `param` reads the other fields, the query string (the body's
    win: they come last)."""
    attributes: dict = {}
    for name in dict.fromkeys([*request.GET, *request.POST]):
        match = ATTRIBUTE_NAME.match(name)
        if match is None:
            continue
        values = _filled(request.POST.getlist(name)) or _filled(request.GET.getlist(name))
        code, is_list = match.group(1), bool(match.group(2))
        # The codes are stored too, as keys of a JSON column that cannot hold a NUL.
        if any("\x00" in v for v in (code, *values)):
            raise ApiError(400, _("An attribute contains a NUL character."))
        if is_list:
            attributes[code] = values
        elif values:
            attributes[code] = values[-1]
    return attributes


def service_request_input(request) -> ServiceRequestInput:
    service_code = param(request, "service_code")
    if service_code is None:
        raise ApiError(400, _("service_code is required."))
    lat = _coordinate("lat", param(request, "lat"), -90, 90)
    lng = _coordinate("long", param(request, "long"), -180, 180)
    if (lat is None) != (lng is None):
        raise ApiError(400, _("lat and long must be given together."))
    address_string = param(request, "address_string", MAX_LENGTHS["address_string"]) or ""
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
        # Django's validator allows 320 characters; a forward path holds 254 (RFC 5321),
        # and so does the column the address is kept in.
        if len(email) > EMAIL_MAX_LENGTH:
            raise ApiError(400, _("email is not a valid address."))
    media_url = param(request, "media_url", MAX_LENGTHS["media_url"]) or ""
    if media_url and (problem := media_url_problem(media_url)):
        raise ApiError(400, problem)
    first_name = param(request, "first_name") or ""
    last_name = param(request, "last_name") or ""
    if len(full_name(first_name, last_name)) > NAME_MAX_LENGTH:
        raise ApiError(
            400,
            _("first_name and last_name make a name longer than %(max)d characters.")
            % {"max": NAME_MAX_LENGTH},
        )
    return ServiceRequestInput(
        service_code=service_code,
        lat=lat,
        lng=lng,
        address_string=address_string,
        address_id=address_id,
        description=param(request, "description") or "",
        first_name=first_name,
        last_name=last_name,
        phone=param(request, "phone", MAX_LENGTHS["phone"]) or "",
        email=email,
        device_id=param(request, "device_id", MAX_LENGTHS["device_id"]) or "",
        account_id=param(request, "account_id", MAX_LENGTHS["account_id"]) or "",
        media_url=media_url,
        attributes=_attributes(request),
        photos=tuple(request.FILES.getlist("media")),
        idempotency_key=_idempotency_key(request),
    )


def _idempotency_key(request) -> str:
    key = request.headers.get("Idempotency-Key") or param(request, "idempotency_key") or ""
    key = key.strip()
    if "\x00" in key:  # `param` checks the form field, not the header
        raise ApiError(400, _("%(name)s contains a NUL character.") % {"name": "Idempotency-Key"})
    return _at_most("Idempotency-Key", key, MAX_LENGTHS["Idempotency-Key"])
