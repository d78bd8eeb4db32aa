"""The list pages: /cases/ and /cases/fallback/."""

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import render

from cases.forms import DispatchForm
from cases.selectors import case_list_for, fallback_pool_for
from cases.services.workflow import available_transitions
from departments.models import Department

PAGE_SIZE = 50


@login_required
def case_list(request):
    cases = case_list_for(request.user).order_by("-created_at", "-id")
    page = Paginator(cases, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "cases/list.html", {"page": page})


@login_required
def fallback_pool(request):
    pool = list(fallback_pool_for(request.user))
    # One department list for every row's dispatch form, not one query per row.
    departments = list(Department.objects.order_by("code"))
    rows = []
    for case in pool:
        form = None
        if "dispatch" in available_transitions(case, request.user):
            form = DispatchForm(
                case=case,
                user=request.user,
                departments=departments,
                auto_id=f"id_{case.number}_%s",
            )
        rows.append((case, form))
    return render(request, "cases/fallback.html", {"rows": rows})
