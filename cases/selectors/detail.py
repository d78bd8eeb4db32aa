"""One case's page: the case with everything it shows, why it is where it is (the routing
explanation) and which departments the dispatch form offers first."""

from dataclasses import dataclass, field

from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from django.utils import timezone

from cases.models import (
    TERMINAL_STATES,
    Case,
    CaseAssist,
    CaseEvent,
    CaseNote,
    CasePhoto,
    State,
)
from cases.selectors.access import cases_visible_to
from cases.selectors.lead_hints import LeadHint, lead_hint
from cases.selectors.trail import OWNERSHIP_ACTIONS
from departments.models import Department, Responsibility, User
from departments.routing import get_index


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


def case_to_act_on(user: User, number: str) -> Case:
    """One visible case by number for a step posted from its page (a transition, a
    correction, a note, photos, a report for duty): the case and what its forms and
    messages name, not the page's timeline, notes and photos, which a case with a long
    history would read whole for each step. 404 when not visible, as the page."""
    return get_object_or_404(
        cases_visible_to(user).select_related("township", "category", "cell", "lead_department"),
        number=number,
    )


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
