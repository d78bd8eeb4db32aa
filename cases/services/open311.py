"""Service requests posted over Open311 GeoReport v2 (SPEC §7).

A posted request becomes a case through the same intake as the web form
(`case_report`: numbered, placed, routed by the same router and state machine), and an
`ApiRequest` row records which key posted it.
"""

import re
from dataclasses import dataclass, field
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Length, StrIndex
from django.utils import timezone
from django.utils.translation import gettext as _

from cases.models import (
    MAX_DESCRIPTION_LENGTH,
    ApiKey,
    ApiRequest,
    Case,
    Source,
    State,
    Urgency,
)
from cases.privacy import can_see_personal_data, mask_email, mask_name
from cases.services.intake import case_report
from cases.services.photo_checks import clean_photos
from cases.services.photos import case_add_photos
from cases.services.privacy import OPEN311_CONTACT_FIELDS, Purpose, record_personal_data_access
from departments.models import Category, GridCell, Township, User
from departments.routing import get_index

_HAN_NAME = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")


def full_name(first_name: str, last_name: str) -> str:
    """GeoReport's first_name and last_name as one name, in the order its language writes
    it: a Chinese name family name first, unspaced (王 + 小明 → 王小明, as the web form's
    reporters write it and as masking reads it), any other given name first."""
    first_name, last_name = first_name.strip(), last_name.strip()
    if _HAN_NAME.fullmatch(first_name) and _HAN_NAME.fullmatch(last_name):
        return last_name + first_name
    return " ".join(part for part in (first_name, last_name) if part)


class ServiceNotFound(Exception):
    """The service_code names no service (HTTP 404 in the API)."""


class IdempotencyKeyReused(Exception):
    """An Idempotency-Key sent again with another service_code or description (HTTP 422
    in the API): replaying the first case would silently drop the new report."""


def services_queryset():
    """The Open311 services: every category (SPEC §7: service codes are category codes),
    as the web form offers them; a broader one routes by its own rules."""
    return Category.objects.select_related("parent").order_by("code")


@dataclass(frozen=True)
class ServiceRequestInput:
    """What a client posted, already parsed into types and within the lengths of the
    columns that keep it (cases/open311/params.py): nothing is cut to fit."""

    service_code: str
    lat: float | None = None
    lng: float | None = None
    address_string: str = ""
    address_id: str = ""
    description: str = ""
    first_name: str = ""
    last_name: str = ""
    phone: str = ""
    email: str = ""
    device_id: str = ""
    account_id: str = ""
    media_url: str = ""
    attributes: dict = field(default_factory=dict)
    photos: tuple = ()  # uploaded files (the `media` extension), checked like the web form's
    # The `Idempotency-Key` header: a retried POST with the same key creates one case.
    idempotency_key: str = ""


def _named_in(address: str, places, *fields: str):
    """The place of `places` whose field (tried in order) the address mentions, the longest
    mention winning; one query per field tried. Without a geocoder this is how a bare
    address_string finds its place."""
    for name in fields:
        found = (
            places.annotate(at=StrIndex(Value(address), F(name)))
            .filter(at__gt=0)
            .order_by(Length(name).desc(), "code")
            .first()
        )
        if found is not None:
            return found
    return None


def service_notice_for(case: Case) -> str | None:
    """What happens next to a freshly posted case: the POST response's service_notice.

    A replayed post answers with its case as it is now, which may have moved on from
    where routing put it; with neither a pool nor a lead department there is no notice."""
    if case.state == State.FALLBACK:
        return _("In the fallback pool of %(township)s: %(reason)s.") % {
            "township": case.township.name,
            "reason": case.get_fallback_reason_display(),
        }
    if case.lead_department_id:
        return _("Assigned to %(department)s.") % {"department": case.lead_department.name}
    return None


@transaction.atomic
def open311_request_create(
    *, api_key: ApiKey, data: ServiceRequestInput, now: datetime | None = None
) -> ApiRequest:
    """Create a case from a posted service request and log it with `api_key`.

    Guarantees: either a routed case (assigned or in its township's fallback pool), its
    photos and its `ApiRequest` row all exist, or nothing was written. Raises
    `ServiceNotFound` for an unknown service code and `ValidationError` for
    anything else the request gets wrong (its messages are meant for the client).
    """
    now = now or timezone.now()
    # One read of the routing stamp: the category and a coded cell are looked up in the
    # router's index, and the case is placed and routed with it.
    index = get_index()
    category = index.category_by_code.get(data.service_code)
    if category is None:
        raise ServiceNotFound(
            _("service_code %(code)s was not found.") % {"code": data.service_code}
        )
    urgency = data.attributes.get("urgency") or Urgency.NORMAL
    # A singlevaluelist sent in a multivaluelist's form, attribute[urgency][]=urgent.
    if isinstance(urgency, list) and len(urgency) == 1:
        urgency = urgency[0]
    if urgency not in Urgency.values:
        raise ValidationError(
            _("attribute[urgency] takes one value, one of: %(values)s.")
            % {"values": ", ".join(Urgency.values)}
        )
    cell = township = None
    if data.address_id:
        cell = index.cell_by_code.get(data.address_id)
        if cell is None:
            raise ValidationError(
                _("address_id %(id)s is not a grid cell code.") % {"id": data.address_id}
            )
        located = index.locate(data.lng, data.lat) if data.lat is not None else None
        if located is not None and located != cell.pk:
            # Two places for one problem: routing by either would be a guess.
            raise ValidationError(
                _(
                    "lat and long lie in grid cell %(located)s, not in address_id %(id)s: "
                    "send one location, or two that agree."
                )
                % {"located": index.cells[located].code, "id": data.address_id}
            )
    elif data.lat is None and data.lng is None:
        cell = _named_in(data.address_string, GridCell.objects.all(), "name", "code")
        if cell is None:
            # A street address in a known township: its pool takes the case (`outside_grid`)
            # and a dispatcher places it. Township codes are too short to find in words.
            township = _named_in(data.address_string, Township.objects.all(), "name")
        if cell is None and township is None:
            raise ValidationError(
                _(
                    "address_string names no grid cell or township we know; send lat and"
                    " long, or the grid cell code as address_id."
                )
            )
    elif data.address_string and index.locate(data.lng, data.lat) is None:
        # A point outside every cell (a hotline's geocoder off the map): the township the
        # address names takes the case before the one nearest to the point.
        township = _named_in(data.address_string, Township.objects.all(), "name")
    description = data.description.strip() or category.name
    if len(description) > MAX_DESCRIPTION_LENGTH:
        raise ValidationError(
            _("description is longer than %(max)d characters.") % {"max": MAX_DESCRIPTION_LENGTH}
        )
    # The web form's rules (JPEG/PNG/WebP only, size limits, EXIF stripped; a bad file
    # refuses the whole request), applied before the case takes its number, as the web
    # form's are (cases/services/photos.py `case_report_with_photos`).
    photos = clean_photos(list(data.photos))
    case = case_report(
        reporter=None,
        source=Source.OPEN311,
        category=category,
        cell=cell,
        lat=data.lat,
        lng=data.lng,
        township=township,
        address=data.address_string,
        description=description,
        urgency=urgency,
        reporter_name=full_name(data.first_name, data.last_name),
        reporter_phone=data.phone,
        now=now,
        idempotency_key=data.idempotency_key,
        idempotency_scope=f"apikey:{api_key.pk}",
        index=index,
    )
    if case.is_replay:
        # A retry of a post that went through: answer as the first time. Compared with
        # what was posted then: a dispatcher may have corrected the case's category since.
        first = ApiRequest.objects.filter(case=case).order_by("pk").first()
        if first is not None and (first.service_code, case.description) != (
            category.code,
            description,
        ):
            raise IdempotencyKeyReused(
                _(
                    "This Idempotency-Key was used for another request (case %(number)s): "
                    "a new request needs a new key."
                )
                % {"number": case.number}
            )
        if first is not None:
            first.case = case
            return first
    if photos:
        case_add_photos(case=case, uploaded_by=None, cleaned=photos)
    return ApiRequest.objects.create(
        api_key=api_key,
        case=case,
        service_code=category.code,
        email=data.email,
        device_id=data.device_id,
        account_id=data.account_id,
        media_url=data.media_url,
        attributes=data.attributes,
        received_at=now,
    )


def open311_request_refused(
    *, api_key: ApiKey, service_code: str, http_status: int, now: datetime | None = None
) -> ApiRequest:
    """Log a post that a valid key made and the API refused, so abuse stays visible.

    A service code longer than the column is logged cut and marked with "…", a character
    no code has: cut bare, it could read as another, real code."""
    longest = ApiRequest._meta.get_field("service_code").max_length
    if len(service_code) > longest:
        service_code = service_code[: longest - 1] + "…"
    return ApiRequest.objects.create(
        api_key=api_key,
        service_code=service_code,
        http_status=http_status,
        received_at=now or timezone.now(),
    )


@dataclass(frozen=True)
class Open311Report:
    """What a client sent with a case besides the case's own fields, for its page: which
    client, the reporter's email and account there (masked as contacts are), a photo link."""

    client: str
    email: str
    account_id: str
    media_url: str


def open311_report_for(*, user: User, case: Case, path: str = "") -> Open311Report | None:
    """The Open311 request that created `case`, as `user` may see it; None for other cases.
    An unmasked email or account is logged as the reporter's name and phone are."""
    if case.source != Source.OPEN311:
        return None
    sent = ApiRequest.objects.select_related("api_key").filter(case=case).order_by("pk").first()
    if sent is None:
        return None
    email, account_id = sent.email, sent.account_id
    if (email or account_id) and can_see_personal_data(user, case):
        record_personal_data_access(
            user=user,
            case_ids=[case.pk],
            purpose=Purpose.VIEW,
            path=path,
            fields=OPEN311_CONTACT_FIELDS,
        )
    elif email or account_id:
        email, account_id = mask_email(email), mask_name(account_id)
    return Open311Report(
        client=sent.api_key.name if sent.api_key else "",
        email=email,
        account_id=account_id,
        media_url=sent.media_url,
    )
