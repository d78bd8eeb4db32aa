"""The list pages: /cases/ and /cases/fallback/."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _

from cases import refused_forms
from cases.forms import CaseFilterForm, DispatchForm
from cases.pagination import CasePaginator
from cases.permissions import may_open_fallback_pool
from cases.privacy import search_note_due
from cases.selectors.deadlines import working_seconds_left
from cases.selectors.lists import (
    case_search,
    fallback_pool_for,
    with_listed_assisting,
    with_returning_departments,
    with_summons_due,
)
from cases.services.transitions import may_fire
from departments.calendar import get_calendar
from departments.routing import written_id

PAGE_SIZE = 50


def filtered_cases(request):
    """The visible cases matching the GET filters, and the bound filter form."""
    form = CaseFilterForm(request.GET or None, user=request.user)
    if not form.is_bound:
        return case_search(request.user), form
    if form.is_valid():
        return case_search(request.user, **form.cleaned_data), form
    # A filter that does not parse (an unknown code, a bad date) matches nothing, rather
    # than silently showing everything; the form shows what is wrong.
    return case_search(request.user).none(), form


@login_required
def case_list(request):
    cases, form = filtered_cases(request)
    # A summoned department's liaison: the deadline to report for duty, not the lead's.
    cases = with_summons_due(cases, request.user, overdue_at=timezone.now())
    page = CasePaginator(cases, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    search = form.cleaned_data.get("q", "") if form.is_bound and form.is_valid() else ""
    return render(
        request,
        "cases/list.html",
        {
            "page": page,
            "filter_form": form,
            "query": query.urlencode(),
            "search_skips_masked": search_note_due(request.user, search),
        },
    )


@login_required
def fallback_pool(request):
    if not may_open_fallback_pool(request.user):
        raise PermissionDenied(_("The fallback pool is for township staff and supervisors."))
    # A page at a time: a district's pool can hold tens of thousands of cases. The page's
    # ids first, from an index-only scan of the pool's index in page order; then their
    # rows by key (whole rows tempted PostgreSQL onto the created_at index, past every
    # older case: 55,000 rows read for 50 at a million cases).
    pool = fallback_pool_for(request.user)
    page = CasePaginator(pool.values_list("pk", flat=True), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    cases = with_returning_departments(list(pool.filter(pk__in=list(page))))
    # The time left to dispatch in working time, as the deadline runs, on one calendar.
    calendar = get_calendar()
    for case in cases:
        case.working_seconds_left = working_seconds_left(case, calendar=calendar)
    rows = [(case, may_fire(case, request.user, "dispatch")) for case in cases]
    # One dispatch form for the page, and in each row a button that posts it to that
    # case's dispatch URL with the case's version: a form per row cost ~10 ms each to
    # render (bench/RESULTS.md), and the case page still offers the candidates first.
    form = None
    if any(may_dispatch for _case, may_dispatch in rows):
        # A dispatch refused for what was chosen (a whistle summoning nobody) comes back
        # here with the choice, not blank.
        kept = refused_forms.take(request, page=request.get_full_path())
        typed = kept[1] if kept and kept[0] == "dispatch" else None
        # Back from a dispatch on this page: the lead it named stays chosen for the next.
        lead = written_id(request.GET.get("lead", ""))
        form = DispatchForm(
            typed,
            case=None,
            user=request.user,
            auto_id="id_pool_%s",
            initial={"lead": lead} if lead is not None else {},
        )
        # In each row to dispatch, the departments the assist rules name for its case.
        for case in with_listed_assisting([case for case, may_dispatch in rows if may_dispatch]):
            case.listed_assisting_boxes = form.listed_assisting_boxes(case)
    # The buttons the page's intro names: "Arbitrate" on a case returned twice.
    offered = [case.needs_arbitration for case, may_dispatch in rows if may_dispatch]
    return render(
        request,
        "cases/fallback.html",
        {
            "rows": rows,
            "page": page,
            "dispatch_form": form,
            "dispatches": not all(offered),
            "arbitrates": any(offered),
        },
    )
