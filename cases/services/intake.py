"""Reporting a case: number it, place it, route it (SPEC §2–3)."""

from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from cases.models import (
    Case,
    CaseEvent,
    CaseNumberCounter,
    IdempotencyKey,
    Source,
    State,
    Urgency,
)
from cases.services.workflow import apply_route
from departments.models import Category, GridCell, Township, User
from departments.routing import RoutingIndex, get_index


def format_case_number(year: int, serial: int) -> str:
    return f"{year}-{serial:06d}"


def allocate_case_numbers(*, year: int, count: int = 1) -> range:
    """Reserve `count` consecutive serial numbers of `year`; safe across processes.

    The counter row stays locked until the caller's transaction ends, so numbers are
    never issued twice and a rolled-back report gives its number back.
    """
    counter, _created = CaseNumberCounter.objects.select_for_update().get_or_create(year=year)
    first = counter.last + 1
    counter.last += count
    counter.save(update_fields=["last"])
    return range(first, counter.last + 1)


@dataclass(frozen=True)
class Placement:
    cell: GridCell | None
    township: Township


def place(
    *,
    cell: GridCell | None,
    lat: float | None,
    lng: float | None,
    reporter: User | None,
    index: RoutingIndex | None = None,
) -> Placement:
    """Find the cell of a report and the township that owns it.

    A chosen cell wins; otherwise the point is located. A case outside every cell belongs
    to the reporter's township, or else to the township of the nearest cell.
    """
    index = index or get_index()
    if cell is None and lat is not None and lng is not None:
        cell_id = index.locate(lng, lat)
        if cell_id is not None:
            cell = GridCell.objects.select_related("township").get(pk=cell_id)
    if cell is not None:
        return Placement(cell=cell, township=cell.township)
    if reporter is not None and reporter.township_id:
        return Placement(cell=None, township=reporter.township)
    if lat is not None and lng is not None:
        township_id = index.nearest_township_id(lng, lat)
        if township_id is not None:
            return Placement(cell=None, township=Township.objects.get(pk=township_id))
    raise ValidationError(
        {"cell": _("Choose a grid cell or a point on the map: the case needs a township.")}
    )


@transaction.atomic
def case_report(
    *,
    reporter: User | None,
    description: str,
    category: Category | None = None,
    cell: GridCell | None = None,
    lat: float | None = None,
    lng: float | None = None,
    address: str = "",
    urgency: str = Urgency.NORMAL,
    reporter_name: str = "",
    reporter_phone: str = "",
    source: str = Source.WEB,
    now: datetime | None = None,
    idempotency_key: str = "",
    idempotency_scope: str = "",
) -> Case:
    """Create a case and route it at once: it leaves this function `assigned` to a
    department or in its township's `fallback` pool, with two audit rows (report, route).

    With an `idempotency_key` (unique within `idempotency_scope`, the submitting user or
    API key), a repeated submission returns the first one's case instead of creating a
    second, even while the first is still being saved; the returned case then has
    `is_replay` True. Reporting never touches the broker."""
    description = (description or "").strip()
    if not description:
        raise ValidationError({"description": _("Describe the problem.")})
    if (lat is None) != (lng is None):
        raise ValidationError({"lat": _("Give both latitude and longitude, or neither.")})
    if lat is not None and not (-90 <= lat <= 90 and -180 <= lng <= 180):
        raise ValidationError({"lat": _("These are not WGS84 coordinates.")})
    now = now or timezone.now()
    claim = None
    if idempotency_key:
        claim, first = _claim_idempotency_key(idempotency_scope, idempotency_key, now=now)
        if first is not None:
            first.is_replay = True
            return first
    index = get_index()  # one read of the routing stamp for placing and routing
    placement = place(cell=cell, lat=lat, lng=lng, reporter=reporter, index=index)
    year = timezone.localtime(now).year
    serial = allocate_case_numbers(year=year)[0]
    case = Case(
        number=format_case_number(year, serial),
        state=State.REPORTED,
        township=placement.township,
        category=category,
        cell=placement.cell,
        lat=lat,
        lng=lng,
        address=address.strip(),
        description=description,
        urgency=urgency,
        reporter_name=reporter_name.strip(),
        reporter_phone=reporter_phone.strip(),
        source=source,
        reported_by=reporter,
        created_at=now,
        updated_at=now,
    )
    case.save()
    CaseEvent.objects.create(
        case=case,
        action="report",
        to_state=State.REPORTED,
        actor=reporter,
        actor_label="" if reporter else source,
        at=now,
    )
    decision = index.route(
        category_id=category.pk if category else None,
        cell_id=placement.cell.pk if placement.cell else None,
        on=timezone.localdate(now),
    )
    apply_route(case, decision, now=now)
    if claim is not None:
        IdempotencyKey.objects.filter(pk=claim.pk).update(case=case)
    case.is_replay = False
    return case


def replayed_case(*, scope: str, key: str) -> Case | None:
    """The case an earlier submission with this idempotency key created, if any."""
    if not key:
        return None
    found = IdempotencyKey.objects.filter(scope=scope, key=key.strip()[:255]).first()
    return found.case if found else None


def _claim_idempotency_key(
    scope: str, key: str, *, now: datetime
) -> tuple[IdempotencyKey | None, Case | None]:
    """Insert the key before the case: (our claim, None), or (None, the first case).

    A twin submission in flight holds the key row uncommitted; the insert below waits on
    the unique index until it commits (then the key is taken: return its case) or rolls
    back (then the insert goes through and this submission creates the case)."""
    key = key.strip()[:255]
    try:
        with transaction.atomic():
            return IdempotencyKey.objects.create(scope=scope, key=key, created_at=now), None
    except IntegrityError:
        taken = IdempotencyKey.objects.select_related("case").get(scope=scope, key=key)
        if taken.case is None:  # only inside the very transaction that claimed it
            raise
        return None, taken.case
