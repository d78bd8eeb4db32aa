"""Read-side helpers. `cases_visible_to` is the one access rule every page, export, the
admin and the API scope their case querysets by."""

from django.db.models import Exists, OuterRef, Q, QuerySet

from cases.models import Case, CaseAssist
from departments.models import User


def cases_visible_to(user: User, queryset: QuerySet[Case] | None = None) -> QuerySet[Case]:
    """The cases `user` may see: administrators and district supervisors all; township
    staff and township supervisors their township's; liaisons their department's, as lead
    or as an assisting department; anyone else none."""
    cases = Case.objects.all() if queryset is None else queryset
    if not (user.is_authenticated and user.is_active):
        return cases.none()
    if user.is_superuser or user.role == User.Role.ADMIN:
        return cases
    if user.role == User.Role.SUPERVISOR:
        return cases if user.township_id is None else cases.filter(township_id=user.township_id)
    if user.role in (User.Role.CASEWORKER, User.Role.DISPATCHER) and user.township_id:
        return cases.filter(township_id=user.township_id)
    if user.role == User.Role.LIAISON and user.department_id:
        assisting = CaseAssist.objects.filter(case=OuterRef("pk"), department_id=user.department_id)
        return cases.filter(Q(lead_department_id=user.department_id) | Exists(assisting))
    return cases.none()
