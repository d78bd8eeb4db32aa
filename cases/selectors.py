"""Read-side helpers. `cases_visible_to` is the one access rule every page, export, the
admin and the API scope their case querysets by."""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from django.db import connection
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from cases.labels import department_names
from cases.models import (
    CLOCK_STATES,
    OPEN_STATES,
    TERMINAL_STATES,
    Case,
    CaseAssist,
    CaseEvent,
    CaseNote,
    CasePhoto,
    State,
)
from cases.privacy import descriptions_searchable_by_digits, search_skips_masked_texts
from departments.models import Category, Department, GridCell, Responsibility, Township, User
from departments.routing import get_index, written_id

if TYPE_CHECKING:
    from cases.services.flywheel import LeadHint


def sees_every_case(user: User) -> bool:
    """Administrators and district supervisors (no township) see every case."""
    if not (user.is_authenticated and user.is_active):
        return False
    return (
        user.is_superuser
        or user.role == User.Role.ADMIN
        or (user.role == User.Role.SUPERVISOR and user.township_id is None)
    )


def cases_visible_to(user: User, queryset: QuerySet[Case] | None = None) -> QuerySet[Case]:
    """The cases `user` may see: administrators and district supervisors all; township
    staff and township supervisors their township's; liaisons their department's, as lead
    or as an assisting department; anyone else none."""
    cases = Case.objects.all() if queryset is None else queryset
    if sees_every_case(user):
        return cases
    if not (user.is_authenticated and user.is_active):
        return cases.none()
    if user.role == User.Role.SUPERVISOR:
        return cases.filter(township_id=user.township_id)
    if user.role in (User.Role.CASEWORKER, User.Role.DISPATCHER) and user.township_id:
        return cases.filter(township_id=user.township_id)
    if user.role == User.Role.LIAISON and user.department_id:
        return cases.filter(_involving(user.department_id))
    return cases.none()


def supervised_township_id(user: User) -> int | None:
    """The township whose cases a supervisor's figures count, as `cases_visible_to` limits
    them: a township supervisor's own; None (every township) for anyone seeing them all."""
    if user.is_superuser or user.role != User.Role.SUPERVISOR:
        return None
    return user.township_id


def _involving(department_id: int) -> Q:
    """Cases a department leads or assists. A correlated EXISTS lets PostgreSQL probe the
    assist index for the few rows of a case page, or hash the department's assisted ids
    once for a list. (A `pk__in` UNION of both sides was tried for the lists: PostgreSQL 15
    estimates the UNION at 200 rows and then probes the case table 300,000 times, 3-7 s a
    page at a million cases; what made the lists cheap is counting them only up to a
    limit, cases/pagination.py.)"""
    assisted = CaseAssist.objects.filter(case=OuterRef("pk"), department_id=department_id)
    return Q(lead_department_id=department_id) | Q(Exists(assisted))


def recent_steps_of(user: User, limit: int = 10) -> list[CaseEvent]:
    """The user's own latest audit rows, newest first, each with `case_visible`: whether
    its case is still in their sight (a case they returned has left it) to link it."""
    visible = cases_visible_to(user).filter(pk=OuterRef("case_id"))
    return list(
        CaseEvent.objects.filter(actor=user)
        .select_related("case")
        .annotate(case_visible=Exists(visible))
        .order_by("-at", "-id")[:limit]
    )


def case_list_for(user: User) -> QuerySet[Case]:
    """The visible cases with what list pages show, in one query per page."""
    return cases_visible_to(user).select_related("township", "category", "cell", "lead_department")


def fallback_pool_for(user: User) -> QuerySet[Case]:
    """The fallback pool this user works: their township's, or every visible pool for the
    district; oldest first, with the candidate departments prefetched, and the returns
    (`returns`, oldest first): a returned case's row says who sent it back and why."""
    pool = cases_visible_to(user).filter(state=State.FALLBACK)
    if user.township_id:
        pool = pool.filter(township_id=user.township_id)
    returns = CaseEvent.objects.filter(action="return")
    return (
        pool.select_related("township", "category", "cell")
        .prefetch_related(
            Prefetch("candidate_departments", queryset=Department.objects.order_by("code")),
            Prefetch("events", queryset=returns.order_by("at", "id"), to_attr="returns"),
            "assists",  # a returned case's, offered ticked again when it is dispatched
        )
        .order_by("created_at", "id")
    )


def case_detail_for(user: User, number: str) -> Case:
    """One visible case by number with everything its page shows; 404 when not visible."""
    return get_object_or_404(
        cases_visible_to(user)
        .select_related(
            "township", "category", "cell", "lead_department", "reported_by", "duplicate_of"
        )
        .prefetch_related(
            Prefetch("candidate_departments", queryset=Department.objects.order_by("code")),
            Prefetch(
                "assists",
                queryset=CaseAssist.objects.select_related("department").order_by(
                    "department__code"
                ),
            ),
            Prefetch("events", queryset=CaseEvent.objects.select_related("actor")),
            Prefetch("notes", queryset=CaseNote.objects.select_related("author")),
            Prefetch(
                "photos", queryset=CasePhoto.objects.select_related("uploaded_by__department")
            ),
        ),
        number=number,
    )


def case_passed_on(user: User, posted_version, *, stale_only: bool = True, **lookup) -> str | None:
    """The number of the case `lookup` finds (`number=` or `pk=`) when `user` is a liaison
    whose department the case's audit trail names (as its lead, the department that
    returned it, one it summoned to assist, or one that acted on it) and, with
    `stale_only`, the case changed since the page that posted `posted_version` showed it:
    one who acted on a case that another step moved out of their sight meanwhile is told it
    changed, not that there is no such case (SPEC §2). None for anyone else, and for a
    case still in their sight (a 404 of another cause: an unknown transition's name)."""
    department = user.department_id
    if department is None:
        return None
    cases = Case.objects.filter(**lookup).exclude(pk__in=cases_visible_to(user).values("pk"))
    if stale_only:
        version = written_id(str(posted_version or ""))
        if version is None:
            return None
        cases = cases.filter(version__gt=version)
    return cases.filter(_named_in_trail(department)).values_list("number", flat=True).first()


def _named_in_trail(department_id: int) -> Exists:
    """Cases whose audit trail names the department: as their lead, the department that
    returned them, one summoned to assist, or one that acted on them."""
    named = (
        Q(data__lead=department_id)
        | Q(data__returned_by=department_id)
        | Q(data__department=department_id)
    )
    if connection.vendor == "postgresql":  # SQLite has no JSON containment
        named |= Q(data__assisting__contains=[department_id])
    return Exists(CaseEvent.objects.filter(named, case=OuterRef("pk")))


def cases_user_may_name(user: User, pks) -> QuerySet[Case]:
    """Of the cases `pks`, those whose numbers `user` may be told: the ones they see, and
    for a liaison those their department's audit trail names, which another step took out
    of their sight. A case that was never theirs stays unnamed: an id typed into a form
    does not turn into another department's case number."""
    cases = Case.objects.filter(pk__in=pks)
    seen = Q(pk__in=cases_visible_to(user).values("pk"))
    if user.department_id is None:
        return cases.filter(seen)
    return cases.filter(seen | _named_in_trail(user.department_id))


# Audit rows that leave the case as it was: an escalation's rung, a note, a reporter's
# contact blanked. The sweep and the retention task write them without moving `version`.
UNCHANGING_ACTIONS = ("escalate", "remind", "acknowledge", "note", "anonymise")
# Written by the system after the step that caused them, at the same moment: a resolve,
# return or correction lapses a pending extension request. Named, the lapse would hide who
# did what ("extension request lapsed by system").
FOLLOW_ON_ACTIONS = ("extension_lapse",)


def latest_step(case: Case) -> CaseEvent | None:
    """The last audit row that changed `case` (a transition, a correction, a report for
    duty…): what someone whose page showed an older version is told happened meanwhile."""
    return (
        CaseEvent.objects.filter(case=case)
        .exclude(action__in=UNCHANGING_ACTIONS + FOLLOW_ON_ACTIONS)
        .select_related("actor")
        .order_by("-at", "-id")
        .first()
    )


# Events that decide who owns a case, latest last. Each sets Case.lead_chosen_in_pool (the
# data flywheel's verdict on the case), in the save that goes with it.
OWNERSHIP_ACTIONS = ("route", "dispatch", "correct", "return")


@dataclass(frozen=True)
class RoutingExplanation:
    """Where a case went and why, in words for the person who reported it.

    `how` is "rule" (the router named the lead), "dispatch" (a dispatcher did),
    "arbitration" (after repeated returns, a supervisor did: final), "correction" (a
    corrected category or cell routed it again), "returned" (a department sent it back) or
    "fallback" (no single lead).

    `standing` says whether that still holds: "open", "arbitration" (in the pool, returned
    twice: a supervisor names the lead), "suspended", "resolved" (the department is done,
    the township's caseworker checks) or "ended" (closed or cancelled)."""

    assigned: bool
    department: Department | None
    how: str
    basis: str = ""
    reason: str = ""
    candidates: list[Department] = field(default_factory=list)
    event: CaseEvent | None = None
    returned_by: Department | None = None
    standing: str = "open"


def _standing(case: Case) -> str:
    if case.needs_arbitration:
        return "arbitration"
    if case.state == State.SUSPENDED:
        return "suspended"
    if case.state == State.RESOLVED:
        return "resolved"
    if case.state in TERMINAL_STATES:
        return "ended"
    return "open"


def _lead_basis(case: Case, routed: CaseEvent | None) -> str:
    """The basis of the rule that named the lead when the case was routed: the one the
    router finds for its category and cell on that day (SPEC §3), not merely any rule of
    the department's on the category."""
    if not (case.category_id and case.cell_id and case.lead_department_id):
        return ""
    on = timezone.localdate(routed.at if routed else case.created_at)
    rule_id = get_index().deciding_rule(category_id=case.category_id, cell_id=case.cell_id, on=on)
    if rule_id is None:
        return ""
    rule = Responsibility.objects.filter(pk=rule_id, department_id=case.lead_department_id)
    return rule.values_list("basis", flat=True).first() or ""


def routing_explanation(case: Case) -> RoutingExplanation:
    """Explain the case's current owner from its audit trail (prefetched by
    `case_detail_for`): the lead department and what named it, or the township's pool with
    the fallback reason, the candidate departments and, after a return, who returned it."""
    decisive = [event for event in case.events.all() if event.action in OWNERSHIP_ACTIONS]
    last = decisive[-1] if decisive else None
    standing = _standing(case)
    if case.lead_department_id:
        action = last.action if last else "route"
        if action == "route":
            return RoutingExplanation(
                True,
                case.lead_department,
                "rule",
                basis=_lead_basis(case, last),
                event=last,
                standing=standing,
            )
        data = last.data or {}
        if action == "correct" or data.get("correction"):
            how = "correction"
        else:
            how = "arbitration" if data.get("arbitrated") else "dispatch"
        return RoutingExplanation(True, case.lead_department, how, event=last, standing=standing)
    candidates = list(case.candidate_departments.all())
    if case.fallback_reason == "returned" and last is not None and last.action == "return":
        returned_by = Department.objects.filter(pk=(last.data or {}).get("returned_by")).first()
        return RoutingExplanation(
            False,
            None,
            "returned",
            reason=case.get_fallback_reason_display(),
            candidates=candidates,
            event=last,
            returned_by=returned_by,
            standing=standing,
        )
    return RoutingExplanation(
        False,
        None,
        "fallback",
        reason=case.get_fallback_reason_display(),
        candidates=candidates,
        standing=standing,
    )


@dataclass(frozen=True)
class DispatchSuggestion:
    """A department to offer first when dispatching a case, and why: the router named it
    among overlapping rules (`candidate`), the township's dispatchers chose it for most
    closed cases of the category (`past`, the data flywheel), or, for an arbitration, it
    is one of the departments that returned the case (`returned`)."""

    department: Department
    candidate: bool = False
    past: "LeadHint | None" = None
    returned: bool = False


def dispatch_suggestions(case: Case) -> list[DispatchSuggestion]:
    """The departments the dispatch form offers first: the flywheel's choice, then the
    router's candidates by code. A department that returned the case is left out of an
    ordinary dispatch; in an arbitration those departments are the dispute, so they are
    offered, marked. The candidates and the events come prefetched by `case_detail_for`;
    at most three queries."""
    from cases.services.flywheel import lead_hint

    returned_by = frozenset(
        (event.data or {}).get("returned_by")
        for event in case.events.all()
        if event.action == "return"
    ) - {None}
    left_out = frozenset() if case.needs_arbitration else returned_by
    hint = lead_hint(category_id=case.category_id, township_id=case.township_id, exclude=left_out)
    candidates = [dept for dept in case.candidate_departments.all() if dept.pk not in left_out]
    offered = ([hint.department] if hint else []) + candidates
    if case.needs_arbitration:
        named = {dept.pk for dept in offered}
        offered += Department.objects.filter(pk__in=returned_by - named).order_by("code")
    suggestions, seen = [], set()
    for dept in offered:
        if dept.pk in seen:
            continue
        seen.add(dept.pk)
        suggestions.append(
            DispatchSuggestion(
                dept,
                candidate=any(c.pk == dept.pk for c in candidates),
                past=hint if hint and hint.department.pk == dept.pk else None,
                returned=dept.pk in returned_by,
            )
        )
    return suggestions


def last_sweep_status(*, now=None, stale_after_seconds: float | None = None) -> dict:
    """The escalation sweep's heartbeat, for /healthz: the last sweep started and the last
    one finished, and `ok` False when none has finished within `stale_after_seconds` or a
    sweep has been running longer than that (a stuck worker or a beat that stopped).
    `stopped` says sweeps that used to finish no longer do, `never_ran` that none was
    ever recorded though cases were reported longer than the limit ago (beat never
    started, or no worker consumes the `celery` queue): a fresh install is not yet in use,
    and stays healthy. The limit defaults to five minutes, or three of beat's sweep
    periods when they are longer."""
    from datetime import timedelta

    from django.conf import settings
    from django.db.migrations.recorder import MigrationRecorder
    from django.utils import timezone

    from cases.models import SweepRun

    if stale_after_seconds is None:
        period = settings.CELERY_BEAT_SCHEDULE["escalate-overdue"]["schedule"]
        stale_after_seconds = max(300, 3 * period)
    now = now or timezone.now()
    limit = timedelta(seconds=stale_after_seconds)
    started = SweepRun.objects.order_by("-started_at").first()
    finished = SweepRun.objects.filter(finished_at__isnull=False).order_by("-finished_at").first()
    # The last sweep that ended, well or not: one running after a failure has not yet
    # shown that sweeping works again.
    ended = SweepRun.objects.exclude(error="", finished_at=None).order_by("-started_at").first()
    stuck = bool(started and started.finished_at is None and now - started.started_at > limit)
    silent = bool(finished and now - finished.finished_at > limit)
    # Only while no sweep was ever recorded: one EXISTS on the indexed created_at. Cases
    # are never deleted, so one reported before the limit means the site has been in use
    # that long, and a running beat would have swept by now; unless the database itself
    # is younger (its first migration's time): seed_demo back-dates the cases it makes.
    never_ran = (
        started is None
        and Case.objects.filter(created_at__lt=now - limit).exists()
        and MigrationRecorder.Migration.objects.filter(applied__lt=now - limit).exists()
    )
    return {
        "last_started_at": started.started_at if started else None,
        "last_finished_at": finished.finished_at if finished else None,
        # Whether it failed, not how: the page is public, an error's text may name hosts.
        "last_failed": bool(ended and ended.error),
        "running_too_long": stuck,
        "stopped": silent and not stuck,
        "never_ran": never_ran,
        "ok": bool(finished and not silent and not stuck),
    }


def with_returning_departments(cases: list[Case]) -> list[Case]:
    """`fallback_pool_for`'s cases, each `returns` row given `department_name`: the
    department that returned the case as the audit row recorded it (its liaison may have
    moved since). One query for the page, none without returns."""
    returns = [event for case in cases for event in case.returns]
    if returns:
        names = department_names()
        for event in returns:
            event.department_name = names.get((event.data or {}).get("returned_by"), "—")
    return cases


def with_listed_assisting(cases: list[Case], *, on: date | None = None) -> list[Case]:
    """Each case given `listed_assisting`: the ids of the departments that the assist rules
    in force on `on` (today) name for its category and cell, as routing would attach them
    (SPEC §3), for the dispatch form to tick. From the router in memory: one query (its
    stamp) for a whole page, none when no case has both a category and a cell."""
    on = on or timezone.localdate()
    index = get_index() if any(case.category_id and case.cell_id for case in cases) else None
    for case in cases:
        case.listed_assisting = (
            index.assisting(category_id=case.category_id, cell_id=case.cell_id, on=on)
            if index is not None
            else ()
        )
    return cases


def _has_case(text: str) -> bool:
    """Whether `text` holds a letter with an upper or lower case. A search without one
    (Chinese, digits, a case number) matches the same rows with or without upper-casing
    them, and upper-casing every description of a district's scan tripled its cost."""
    return any(char.upper() != char or char.lower() != char for char in text)


def case_search(
    user: User,
    *,
    q: str = "",
    state: list[str] | None = None,
    category: Category | None = None,
    township: Township | None = None,
    cell: GridCell | None = None,
    department: Department | None = None,
    overdue: bool = False,
    awaiting_duty: bool = False,
    date_from: date | None = None,
    date_to: date | None = None,
    now: datetime | None = None,
) -> QuerySet[Case]:
    """The visible cases matching the list filters, newest first. A category filter
    includes its subcategories; a department matches as lead or as assisting department;
    `awaiting_duty` keeps open cases with a summons not yet answered; dates are local
    dates of the time zone."""
    cases = case_list_for(user)
    if q:
        q = q.strip()
        contains = "icontains" if _has_case(q) else "contains"
        in_description = Q(**{f"description__{contains}": q})
        if search_skips_masked_texts(user, q):
            in_description &= descriptions_searchable_by_digits(user)
        cases = cases.filter(
            Q(**{f"number__{contains}": q}) | in_description | Q(**{f"address__{contains}": q})
        )
    if state:
        cases = cases.filter(state__in=state)
    if category is not None:
        index = get_index()
        family = [
            cat_id for cat_id in index.parent_of if category.pk in index.category_chain(cat_id)
        ] or [category.pk]
        cases = cases.filter(category_id__in=family)
    if township is not None:
        cases = cases.filter(township=township)
    if cell is not None:
        cases = cases.filter(cell=cell)
    if department is not None:
        cases = cases.filter(_involving(department.pk))
    if overdue:
        cases = cases.overdue(now)
    if awaiting_duty:
        # Open cases with a summons no department has answered yet (报到).
        unanswered = CaseAssist.objects.filter(case=OuterRef("pk"), summoned=True, reported_at=None)
        cases = cases.filter(Exists(unanswered), state__in=OPEN_STATES)
    if date_from:
        cases = cases.filter(created_at__date__gte=date_from)
    if date_to:
        cases = cases.filter(created_at__date__lte=date_to)
    return cases.order_by("-created_at", "-id")


DUPLICATE_WINDOW_DAYS = 30
# Cells are neighbours when their bounding boxes touch (within this tolerance, degrees).
NEIGHBOUR_TOLERANCE = 1e-7


def neighbouring_cell_ids(cell: GridCell) -> list[int]:
    """The cell and the cells whose bounding boxes touch it, in one indexed query."""
    tol = NEIGHBOUR_TOLERANCE
    return list(
        GridCell.objects.filter(
            min_lng__lte=cell.max_lng + tol,
            max_lng__gte=cell.min_lng - tol,
            min_lat__lte=cell.max_lat + tol,
            max_lat__gte=cell.min_lat - tol,
        ).values_list("id", flat=True)
    )


def possible_duplicates(
    user: User, *, category: Category | None, cell: GridCell | None, now: datetime | None = None
) -> QuerySet[Case]:
    """Open visible cases of the same category in the same or a neighbouring cell, reported
    in the last 30 days: shown before a new report is saved. An unclassified report meets
    the unclassified cases there: a form sent again from the browser's history, with a key
    of its own, would otherwise make a second case unseen."""
    if cell is None:
        return Case.objects.none()
    since = (now or timezone.now()) - timedelta(days=DUPLICATE_WINDOW_DAYS)
    return (
        case_list_for(user)
        .open()
        .filter(category=category, cell_id__in=neighbouring_cell_ids(cell), created_at__gte=since)
        .order_by("-created_at")[:10]
    )


def cells_geojson(township_id: int | None = None) -> dict:
    """The grid cells as a GeoJSON FeatureCollection for the maps (drawn from our own data)."""
    cells = GridCell.objects.select_related("township").order_by("code")
    if township_id:
        cells = cells.filter(township_id=township_id)
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": cell.boundary,
                "properties": {
                    "id": cell.pk,
                    "code": cell.code,
                    "name": cell.name,
                    "township": cell.township.name,
                },
            }
            for cell in cells
        ],
    }


def working_seconds_left(case: Case, *, now: datetime | None = None, calendar=None) -> float | None:
    """Working time until the running deadline, in seconds (negative past it; 0 at it, when
    the case is already overdue: `Case.is_overdue`), on the official calendar (`calendar`,
    when a list has one for all its rows); None when no clock runs."""
    if case.due_at is None or case.state not in CLOCK_STATES:
        return None
    from departments.calendar import get_calendar

    now = now or timezone.now()
    calendar = calendar or get_calendar()
    if case.due_at >= now:
        return calendar.working_seconds_between(now, case.due_at)
    return -calendar.working_seconds_between(case.due_at, now)
