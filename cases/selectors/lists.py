"""The case lists: the filtered list of /cases/, the township's fallback pool with what its
dispatch forms need, and the open cases near a new report (possible duplicates)."""

from datetime import date, datetime, time, timedelta

from django.db import models
from django.db.models import (
    BooleanField,
    ExpressionWrapper,
    F,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from cases.models import AWAITING_REPORT, OPEN_STATES, Case, CaseAssist, CaseEvent, State
from cases.selectors.access import _involving, cases_visible_to
from cases.selectors.cells import neighbouring_cell_ids
from cases.selectors.search import text_search
from cases.trail_words import department_names
from departments.models import Category, Department, GridCell, Township, User
from departments.routing import get_index


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
        cases = text_search(cases, user=user, q=q.strip())
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
        cases = awaiting_report_for_duty(cases)
    # As a range of moments, not each case's local date, which is computed per row and
    # answered by no index (a day's cases at a million: 0.5-1 s).
    if date_from:
        cases = cases.filter(created_at__gte=local_midnight(date_from))
    if date_to and date_to < date.max:
        cases = cases.filter(created_at__lt=local_midnight(date_to + timedelta(days=1)))
    return cases.order_by("-created_at", "-id")


def awaiting_report_for_duty(
    cases: QuerySet[Case], *, department_id: int | None = None
) -> QuerySet[Case]:
    """Of `cases`, the open ones with a summons not yet answered (报到): of `department_id`
    alone, given one. By the ids of those cases, read first from the waiting summonses'
    index: few wait at any time, but PostgreSQL, unable to tell how few, read the cases
    newest first and probed each one for a summons (0.6-1 s at a million cases)."""
    # Not joined to the cases for their state: estimating thousands of waiting summonses,
    # PostgreSQL hashed them and read every open case (0.2 s). Those left on finished cases
    # (a summons nobody answered before the case closed) stay in the index, a few more ids.
    waiting = CaseAssist.objects.filter(AWAITING_REPORT)
    if department_id is not None:
        waiting = waiting.filter(department_id=department_id)
    waiting_case_ids = list(waiting.values_list("case_id", flat=True))
    return cases.filter(pk__in=waiting_case_ids, state__in=OPEN_STATES)


def local_midnight(day: date) -> datetime:
    """The moment `day` starts in the current time zone: the lists' date filters and the
    dashboard's periods count local days."""
    return datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())


DUPLICATE_WINDOW_DAYS = 30


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


def with_summons_due(
    cases: QuerySet[Case], user: User, *, overdue_at: datetime | None = None
) -> QuerySet[Case]:
    """`cases` with `summons_due_at`, for a liaison: when their department, summoned by a
    whistle to the case, must report for duty, while it has not and the case is open (None
    otherwise). Until then that is their department's deadline on the case, not the lead's
    `due_at`, and a list shows it instead. With `overdue_at` (now), also `summons_overdue`:
    whether that deadline has passed, for a row and its cell to say alike. In the list's
    own query (a subquery per open case on the assists' unique index); other users' cases are
    returned as they are."""
    if not user.has_role(User.Role.LIAISON):
        return cases
    waiting = CaseAssist.objects.filter(
        AWAITING_REPORT, case=OuterRef("pk"), department_id=user.department_id
    )
    # Asked of open cases only, by their own row's state: most of a department's cases are
    # closed, and the subquery joined each case again for its state (a liaison's admin list
    # sorted by time left ran it for 301,349 cases at a million; at 300,000, 0.27 s → 0.21 s).
    summons_due = models.Case(
        models.When(state__in=OPEN_STATES, then=Subquery(waiting.values("report_due_at")[:1])),
        default=None,
        output_field=models.DateTimeField(),
    )
    cases = cases.annotate(summons_due_at=summons_due)
    if overdue_at is None:
        return cases
    passed = Q(summons_due_at__lte=overdue_at)
    return cases.annotate(summons_overdue=ExpressionWrapper(passed, output_field=BooleanField()))


def with_shown_due(cases: QuerySet[Case], user: User) -> QuerySet[Case]:
    """`with_summons_due`'s cases, each also given `shown_due_at`: the deadline its row
    tells the time to, the summons' `summons_due_at` where the row shows that, else the
    case's `due_at` (all that users other than liaisons are shown). A list sorts by it to
    sort by what it shows: sorted by `due_at`, a summons stood where the lead's clock put it."""
    cases = with_summons_due(cases, user)
    summoned = "summons_due_at" in cases.query.annotations  # a liaison's cases
    return cases.annotate(
        shown_due_at=Coalesce("summons_due_at", "due_at") if summoned else F("due_at")
    )
