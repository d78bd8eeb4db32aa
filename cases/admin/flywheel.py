"""The rule suggestions page of the admin (the data flywheel): administrators accept a
suggestion, which creates the lead rule, or dismiss it."""

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext
from django.views.decorators.http import require_http_methods

from cases.services import flywheel
from cases.services.transitions import WorkflowError


def may_curate(user) -> bool:
    return user.has_perm("departments.add_responsibility")


@require_http_methods(["GET", "POST"])
def suggestions_view(request, *, model_admin):
    if not may_curate(request.user):
        raise PermissionDenied
    site = model_admin.admin_site.name
    if request.method == "POST":
        key = request.POST.get("key", "")
        try:
            if request.POST.get("decision") == "accept":
                # A new rule, or the department's own once the overlapping ones are ended.
                rule = flywheel.rule_suggestion_accept(key=key, actor=request.user)
                # In the suggestion's words: the rule's codes ("ENV → CIVIL (lead, CD)")
                # left "lead" in English on a Chinese page. A rule routes reports made
                # after it; the pool's cases are not moved behind the dispatcher's back.
                messages.success(
                    request,
                    gettext(
                        "Suggestion accepted: from today, %(department)s leads the cases of"
                        " category %(category)s in %(scope)s. New reports of them go to it"
                        " directly; those already in the fallback pool stay there for a"
                        " dispatcher."
                    )
                    % {
                        "department": rule.department.name,
                        "category": rule.category,
                        "scope": rule.cell or rule.township,
                    },
                )
            else:
                flywheel.rule_suggestion_dismiss(
                    key=key, actor=request.user, note=request.POST.get("note", "")
                )
                messages.success(request, gettext("Suggestion dismissed."))
        except WorkflowError as error:
            messages.error(request, str(error))
        return HttpResponseRedirect(request.path)
    changelist = reverse(f"{site}:cases_case_changelist")
    suggestions = flywheel.rule_suggestions()
    for suggestion in suggestions:
        suggestion.evidence_url = (
            f"{changelist}?{urlencode({'number__in': ','.join(suggestion.numbers)})}"
        )
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": gettext("Rule suggestions from dispatched cases"),
        "suggestions": suggestions,
        "min_cases": flywheel.MIN_CASES,
        "min_share": int(flywheel.MIN_SHARE * 100),
    }
    request.current_app = site
    return TemplateResponse(request, "admin/cases/flywheel.html", context)
