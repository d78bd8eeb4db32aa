"""The list pages: /cases/ and /cases/fallback/."""

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import render

from cases.forms import CaseFilterForm, DispatchForm
from cases.selectors import case_search, fallback_pool_for
from cases.services.workflow import available_transitions
from departments.models import Department

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
    page = Paginator(cases, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "cases/list.html",
        {"page": page, "filter_form": form, "query": query.urlencode()},
    )


@login_required
def fallback_pool(request):
    # A page at a time: a district's pool can hold tens of thousands of cases, and each
    # row renders a dispatch form (bench/RESULTS.md: seconds per request unpaginated).
    page = Paginator(fallback_pool_for(request.user), PAGE_SIZE).get_page(request.GET.get("page"))
    # One department list for every row's dispatch form, not one query per row.
    departments = list(Department.objects.order_by("code"))
    rows = []
    for case in page:
        form = None
        if "dispatch" in available_transitions(case, request.user):
            form = DispatchForm(
                case=case,
                user=request.user,
                departments=departments,
                auto_id=f"id_{case.number}_%s",
            )
        rows.append((case, form))
    return render(request, "cases/fallback.html", {"rows": rows, "page": page})
