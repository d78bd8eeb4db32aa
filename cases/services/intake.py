"""Reporting a case: number it, place it, route it (SPEC §2–3)."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connections, router, transaction
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
from cases.services.transitions import attach_routed_departments, route_unsaved
from departments.calendar import get_calendar
from departments.models import Category, GridCell, Township, User
from departments.routing import RoutingIndex, get_index


def format_case_number(year: int, serial: int) -> str:
    return f"{year}-{serial:06d}"


def allocate_case_numbers(*, year: int, count: int = 1) -> range:
    """Reserve `count` consecutive serial numbers of `year`; safe across processes.

    One statement, an upsert that also starts a new year, locks the counter row until the
    caller's transaction ends, so numbers are never issued twice and a rolled-back report
    gives its number back (no gaps). Concurrent reports queue on that lock, so intake takes
    it as late as it can.
    """
    connection = connections[router.db_for_write(CaseNumberCounter)]
    quote = connection.ops.quote_name
    table, last = quote(CaseNumberCounter._meta.db_table), quote("last")
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({quote('year')}, {last}) VALUES (%s, %s) "  # noqa: S608
            f"ON CONFLICT ({quote('year')}) DO UPDATE SET {last} = {table}.{last} + %s "
            f"RETURNING {last}",
            [year, count, count],
        )
        issued = cursor.fetchone()[0]
    return range(issued - count + 1, issued + 1)


@dataclass(frozen=True)
class Placement:
    cell_id: int | None
    township_id: int


def place(
    *,
    cell: GridCell | None,
    lat: float | None,
    lng: float | None,
    reporter: User | None,
    index: RoutingIndex,
    township: Township | None = None,
) -> Placement:
    """Find the cell of a report and the township that owns it, from the router's index
    (no query).

    A chosen cell wins; otherwise the point is located. A case outside every cell belongs
    to the township the report names, or the reporter's, or else to the township of the
    nearest cell.
    """
    if cell is not None:
        return Placement(cell_id=cell.pk, township_id=cell.township_id)
    if lat is not None and lng is not None:
        cell_id = index.locate(lng, lat)
        if cell_id is not None:
            return Placement(cell_id=cell_id, township_id=index.township_of_cell[cell_id])
    if township is not None:
        return Placement(cell_id=None, township_id=township.pk)
    if reporter is not None and reporter.township_id:
        return Placement(cell_id=None, township_id=reporter.township_id)
    if lat is not None and lng is not None:
        township_id = index.nearest_township_id(lng, lat)
        if township_id is not None:
            return Placement(cell_id=None, township_id=township_id)
    raise ValidationError(
        {"cell": _("Choose a grid cell or a point on the map: the case needs a township.")}
    )


def case_report(
    *,
    reporter: User | None,
    description: str,
    category: Category | None = None,
    cell: GridCell | None = None,
    lat: float | None = None,
    lng: float | None = None,
    township: Township | None = None,
    address: str = "",
    urgency: str = Urgency.NORMAL,
    reporter_name: str = "",
    reporter_phone: str = "",
    source: str = Source.WEB,
    now: datetime | None = None,
    idempotency_key: str = "",
    idempotency_scope: str = "",
    index: RoutingIndex | None = None,
) -> Case:
    """Create a case and route it at once: it leaves this function `assigned` to a
    department or in its township's `fallback` pool, with two audit rows (report, route).

    The case is placed and routed in memory (the router's index, the state machine's
    `route`, the deadline clock) and inserted once, already routed: one read of the
    routing stamp (none when the caller passes the `index` it read for this request), the
    year's counter, the case, both audit rows in one INSERT, and assisting or candidate
    departments when the router names some. The counter row stays locked from its update
    to the commit, so it is updated last, just before the inserts.

    A `township` places a report that has neither cell nor point (an address naming only
    its township): it goes to that township's pool as `outside_grid`.

    Bad input raises ValidationError before anything is written. Called inside a caller's
    transaction (photos, Open311), it joins it without a savepoint: an error here is
    the caller's to roll back.

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
    # The router and the calendar both follow the routing stamp: read it once.
    index = index or get_index()
    placement = place(
        cell=cell, lat=lat, lng=lng, reporter=reporter, index=index, township=township
    )
    case = Case(
        state=State.REPORTED,
        township_id=placement.township_id,
        category=category,
        cell_id=placement.cell_id,
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
    if cell is not None:
        case.cell = cell  # the caller's object, so that reading the case's cell needs no query
    reported = CaseEvent(
        case=case,
        action="report",
        to_state=State.REPORTED,
        actor=reporter,
        actor_label="" if reporter else source,
        at=now,
    )
    decision = index.route(
        category_id=category.pk if category else None,
        cell_id=placement.cell_id,
        on=timezone.localdate(now),
    )
    routed = route_unsaved(case, decision, now=now, calendar=get_calendar(stamp=index.version))
    year = timezone.localtime(now).year
    with transaction.atomic(savepoint=False):
        claim = None
        if idempotency_key:
            claim, first = _claim_idempotency_key(idempotency_scope, idempotency_key, now=now)
            if first is not None:
                first.is_replay = True
                return first
        case.number = format_case_number(year, allocate_case_numbers(year=year)[0])
        # One insert stands for the report's save and the route's: the version still counts
        # the saves a case has been through, as if routed by `_fire` after being reported.
        case.version += 1
        case.save(force_insert=True)
        CaseEvent.objects.bulk_create([reported, routed])
        attach_routed_departments(case, decision, now=now)
        if claim is not None:
            IdempotencyKey.objects.filter(pk=claim).update(case=case)
    case.is_replay = False
    return case


def idempotency_keys_purge(*, now: datetime | None = None) -> int:
    """Forget idempotency keys older than IDEMPOTENCY_KEY_DAYS, in one DELETE (the beat
    runs it daily): they guard against a form or request sent twice within minutes, and
    would otherwise grow by one row per report for ever. Returns how many went."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.IDEMPOTENCY_KEY_DAYS)
    return IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()[0]


def replayed_case(*, scope: str, key: str) -> Case | None:
    """The case an earlier submission with this idempotency key created, if any."""
    if not key:
        return None
    found = IdempotencyKey.objects.filter(scope=scope, key=_stored_key(key)).first()
    return found.case if found else None


def is_same_report(case: Case, **report) -> bool:
    """Whether `report` (the fields given to `case_report`) says what `case` was reported
    with: a form sent again as it was, not one edited after going back to it. The category
    and cell as reported, before any dispatcher's correction (its audit row keeps them)."""
    cell = report.get("cell")
    category = report.get("category")
    reported = {"category": case.category_id, "cell": case.cell_id}
    first_correction = (
        CaseEvent.objects.filter(case=case, action="correct")
        .order_by("at", "id")
        .values_list("data", flat=True)
        .first()
    )
    if first_correction:
        reported = first_correction.get("old") or reported
    return (
        case.description == (report.get("description") or "").strip()
        and reported.get("category") == (category.pk if category else None)
        and (cell is None or reported.get("cell") == cell.pk)
        and (case.lat, case.lng) == (report.get("lat"), report.get("lng"))
        and case.address == (report.get("address") or "").strip()
        and case.urgency == report.get("urgency", Urgency.NORMAL)
    )


def _stored_key(key: str) -> str:
    """An idempotency key as stored: trimmed, at most the column's length."""
    return key.strip()[: IdempotencyKey._meta.get_field("key").max_length]


def _claim_idempotency_key(
    scope: str, key: str, *, now: datetime
) -> tuple[int | None, Case | None]:
    """Insert the key before the case: (our claim's id, None), or (None, the first case).

    A twin submission in flight holds the key row uncommitted; the insert below waits on
    the unique index until it commits (then the key is taken: nothing is inserted, and its
    case is returned) or rolls back (then the insert goes through and this submission
    creates the case). `ON CONFLICT DO NOTHING` rather than catching the unique violation,
    so no savepoint is needed around it."""
    key = _stored_key(key)
    connection = connections[router.db_for_write(IdempotencyKey)]
    quote = connection.ops.quote_name
    columns = f"{quote('scope')}, {quote('key')}"
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(IdempotencyKey._meta.db_table)} "  # noqa: S608
            f"({columns}, {quote('created_at')}) VALUES (%s, %s, %s) "
            f"ON CONFLICT ({columns}) DO NOTHING RETURNING {quote('id')}",
            [scope, key, connection.ops.adapt_datetimefield_value(now)],
        )
        claimed = cursor.fetchone()
    if claimed is not None:
        return claimed[0], None
    taken = IdempotencyKey.objects.select_related("case").get(scope=scope, key=key)
    if taken.case is None:  # only inside the very transaction that claimed it
        raise IntegrityError(f"The idempotency key {key!r} is claimed by this transaction.")
    return None, taken.case
