"""Who may see which case. `cases_visible_to` is the one access rule every page, export,
the admin and the API scope their case querysets by; a liaison who acted on a case another
step took out of their sight is told it moved on (`case_passed_on`, `cases_user_may_name`)
rather than that there is no such case."""

from django.db.models import Exists, OuterRef, Q, QuerySet

from cases.models import Case, CaseAssist, CaseEvent
from departments.models import User
from departments.routing import written_id


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
        # The id within the `assisting` list's JSON text ("[3, 5]"): SQLite, make run's
        # database, has no JSON containment, and a liaison let go was told "no such case".
        | Q(data__assisting__regex=rf"[\[,]\s*{int(department_id)}\s*[,\]]")
    )
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
