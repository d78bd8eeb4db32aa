"""Who may fire which transition (SPEC §2). Each function takes (case, user) as
django-fsm's `permission=` expects; pages and the admin ask `has_transition_perm`."""

from departments.models import User

Role = User.Role


def is_supervisor_of(case, user) -> bool:
    # A supervisor with no township is the district's: they supervise every township.
    return user.has_role(Role.SUPERVISOR) and user.township_id in (None, case.township_id)


def is_township_staff(case, user, *roles) -> bool:
    return user.has_role(*roles) and user.township_id == case.township_id


def dispatch(case, user) -> bool:
    if case.needs_arbitration:
        return is_supervisor_of(case, user)
    return is_township_staff(case, user, Role.DISPATCHER) or is_supervisor_of(case, user)


def act_for_lead(case, user) -> bool:
    return user.has_role(Role.LIAISON) and user.department_id == case.lead_department_id


def return_to_pool(case, user) -> bool:
    return act_for_lead(case, user) and not case.lead_is_final


def verify(case, user) -> bool:
    return is_township_staff(case, user, Role.CASEWORKER)


def supervise(case, user) -> bool:
    return is_supervisor_of(case, user)


def cancel(case, user) -> bool:
    return is_township_staff(case, user, Role.DISPATCHER) or is_supervisor_of(case, user)


def may_report(user) -> bool:
    """/cases/new/ is for township staff, supervisors and administrators, not liaisons."""
    return user.is_superuser or user.has_role(
        Role.CASEWORKER, Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN
    )


def may_see_dashboard(user) -> bool:
    """/dashboard/ and its roll-up are for supervisors and administrators."""
    return user.is_superuser or user.has_role(Role.SUPERVISOR, Role.ADMIN)


def may_open_fallback_pool(user) -> bool:
    """/cases/fallback/ is for the township's dispatchers, who work it, and caseworkers,
    who follow their reports there; for supervisors and administrators. Not for liaisons:
    their department's cases are in the admin, and a pooled case has no lead yet."""
    if user.is_superuser or user.has_role(Role.SUPERVISOR, Role.ADMIN):
        return True
    return user.has_role(Role.DISPATCHER, Role.CASEWORKER) and user.township_id is not None
