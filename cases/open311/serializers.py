"""Our categories and cases as GeoReport v2 services and service requests.

Strings for ids and codes (the specification's JSON examples print `001` as a number,
which is not valid JSON); datetimes in ISO 8601 with the UTC offset of TIME_ZONE; missing
values as null (an empty element in XML).
"""

from datetime import datetime

from django.utils import timezone
from django.utils.translation import gettext as _

from cases.labels import fallback_reason_label, state_label
from cases.models import TERMINAL_STATES, Case, State, Urgency
from cases.privacy import mask_contacts
from departments.models import Category
from departments.wording import label_separator

OPEN, CLOSED = "open", "closed"
STATUS_VALUES = (OPEN, CLOSED)


def w3c(value: datetime | None) -> str | None:
    """A W3C/ISO 8601 datetime with its offset, e.g. 2026-11-23T09:30:00+08:00."""
    if value is None:
        return None
    return timezone.localtime(value).isoformat(timespec="seconds")


def service(category: Category) -> dict:
    parent = category.parent
    return {
        "service_code": category.code,
        "service_name": category.name,
        "description": category.name_en or category.name,
        # Every service has a definition: the urgency attribute (see `definition`).
        "metadata": True,
        # Routing happens while the request is posted, so the id is returned at once.
        "type": "realtime",
        "keywords": ", ".join(
            k for k in (category.code, category.name_en, parent and parent.code) if k
        ),
        "group": parent.name if parent else None,
    }


def definition(category: Category) -> dict:
    return {
        "service_code": category.code,
        "attributes": [
            {
                "variable": True,
                "code": "urgency",
                "datatype": "singlevaluelist",
                "required": False,
                "datatype_description": None,
                "order": 1,
                "description": _("How urgent is it? Leave empty for normal."),
                "values": [{"key": key, "name": str(label)} for key, label in Urgency.choices],
            }
        ],
    }


def status_of(case: Case) -> str:
    return CLOSED if case.state in TERMINAL_STATES else OPEN


def status_notes(case: Case) -> str:
    """Our fine state, which GeoReport's open/closed cannot carry."""
    notes = state_label(case.state)
    if case.state == State.FALLBACK and case.fallback_reason:
        notes = f"{notes}{label_separator()}{fallback_reason_label(case.fallback_reason)}"
    elif case.state == State.CANCELLED and case.duplicate_of_id:
        notes = _("%(state)s: a duplicate") % {"state": notes}
    return str(notes)


def extended_attributes(case: Case) -> dict:
    """SPEC §7's extension block; the querysets prefetch what it reads."""
    return {
        "state": case.state,
        "department_code": case.lead_department.code if case.lead_department_id else None,
        "assisting_department_codes": [a.department.code for a in case.assists.all()],
        "fallback_reason": case.fallback_reason or None,
        "candidate_department_codes": [d.code for d in case.candidate_departments.all()],
        "grid_cell": case.cell.code if case.cell_id else None,
        "escalation_level": case.escalation_level,
    }


def service_request(case: Case, *, extensions: bool = False) -> dict:
    category = case.category
    api_request = getattr(case, "open311_request", None)
    data = {
        "service_request_id": case.number,
        "status": status_of(case),
        "status_notes": status_notes(case),
        "service_name": category.name if category else None,
        "service_code": category.code if category else None,
        # The API is public: phone numbers in free text are masked as in emails.
        "description": mask_contacts(case.description),
        "agency_responsible": case.lead_department.name if case.lead_department_id else None,
        "service_notice": None,
        "requested_datetime": w3c(case.created_at),
        "updated_datetime": w3c(case.closed_at if status_of(case) == CLOSED else case.updated_at),
        "expected_datetime": w3c(case.due_at),
        "address": mask_contacts(case.address) or None,
        "address_id": case.cell.code if case.cell_id else None,
        "zipcode": None,
        "lat": case.lat,
        "long": case.lng,
        "media_url": (api_request.media_url or None) if api_request else None,
    }
    if extensions:
        data["extended_attributes"] = extended_attributes(case)
    return data
