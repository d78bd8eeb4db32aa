"""What the cases changelist does to the selected cases: accept them one by one through
the workflow service (a liaison's queue), or export them as CSV."""

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.utils.formats import number_format
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from cases.admin.export import csv_response, local_iso, refused_as_too_big
from cases.pagination import count_up_to
from cases.privacy import description_for
from cases.selectors.access import cases_user_may_name
from cases.services import workflow
from cases.services.transitions import WorkflowError
from departments import wording
from departments.routing import written_id

# The most cases one "accept" action takes: each is a transition of its own (some 3–5 ms
# with its audit rows), so a thousand end in seconds, well inside gunicorn's 30 s timeout.
ACCEPT_MAX_CASES = 1_000
# The case numbers a bulk accept's refusal names for each reason, before "and N more".
REFUSED_CASES_NAMED = 3

CSV_COLUMNS = [
    ("number", lambda case: case.number),
    ("state", lambda case: case.state),
    ("category_code", lambda case: case.category.code if case.category_id else ""),
    ("township_code", lambda case: case.township.code),
    ("cell_code", lambda case: case.cell.code if case.cell_id else ""),
    (
        "lead_department_code",
        lambda case: case.lead_department.code if case.lead_department_id else "",
    ),
    ("urgency", lambda case: case.urgency),
    ("fallback_reason", lambda case: case.fallback_reason),
    ("return_count", lambda case: case.return_count),
    ("created_at", lambda case: local_iso(case.created_at)),
    ("due_at", lambda case: local_iso(case.due_at)),
    ("closed_at", lambda case: local_iso(case.closed_at)),
    ("escalation_level", lambda case: case.escalation_level),
]


@admin.action(description=_("Accept the selected cases"), permissions=["accept"])
def accept_selected(model_admin, request, queryset):
    """Accept each selected case through the workflow service, each checked on its
    own: one refusal does not stop the others, and every refusal is reported. A
    selection bigger than one request can take ("select all" over a long list) is
    refused as a whole, before any case is touched."""
    if count_up_to(queryset, ACCEPT_MAX_CASES) > ACCEPT_MAX_CASES:
        model_admin.message_user(
            request,
            gettext(
                "Nothing was accepted: more than %(limit)s cases are selected, the most "
                "one action accepts. Narrow the list (the state, the dates) and accept "
                "it in parts."
            )
            % {"limit": number_format(ACCEPT_MAX_CASES, force_grouping=True)},
            messages.ERROR,
        )
        return
    accepted, seen = [], set()
    # The numbers refused, by reason, in the order the reasons first came.
    refused: dict[str, list[str]] = {}
    for case in queryset.select_related("category").order_by("created_at"):
        seen.add(case.pk)
        try:
            workflow.case_accept(case=case, actor=request.user)
        except WorkflowError as error:
            refused.setdefault(str(error), []).append(case.number)
        else:
            accepted.append(case.number)
    # Ticked on the page, but out of the list since (returned to the pool meanwhile,
    # or no longer in the filtered state): said, not silently skipped.
    ticked = {written_id(pk) for pk in request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)}
    # Those the user may not be told of (never theirs, or an id typed into the form) are
    # counted, not named: passed over in silence, the press would seem to have done nothing.
    unnamed = 0
    if gone := ticked - seen - {None}:
        moved_on = gettext("it changed meanwhile and is no longer in this list")
        named = cases_user_may_name(request.user, gone).order_by("created_at")
        if numbers := list(named.values_list("number", flat=True)):
            refused.setdefault(moved_on, []).extend(numbers)
        unnamed = len(gone) - len(numbers)
    if accepted:
        messages.success(
            request,
            ngettext(
                "Accepted %(count)d case: %(numbers)s",
                "Accepted %(count)d cases: %(numbers)s",
                len(accepted),
            )
            % {"count": len(accepted), "numbers": wording.join_names(accepted)},
        )
    # One message per reason, naming the first few cases: "select all" over a list of
    # cases already in progress was a wall of the same refusal, case by case.
    for reason, numbers in refused.items():
        messages.error(
            request,
            ngettext(
                "%(count)d case was not accepted (%(numbers)s): %(reason)s",
                "%(count)d cases were not accepted (%(numbers)s): %(reason)s",
                len(numbers),
            )
            % {"count": len(numbers), "numbers": _first_named(numbers), "reason": reason},
        )
    if unnamed:
        messages.error(
            request,
            ngettext(
                "%(count)d selected case was not accepted: it is not in your list.",
                "%(count)d selected cases were not accepted: they are not in your list.",
                unnamed,
            )
            % {"count": unnamed},
        )


@admin.action(description=_("Export the selected cases as CSV"))
def export_csv(model_admin, request, queryset):
    if refused_as_too_big(model_admin, request, queryset):
        return None
    cases = queryset.select_related(*model_admin.list_select_related).order_by("created_at")
    return csv_response(
        "cases.csv",
        [*(name for name, _get in CSV_COLUMNS), "description"],
        (
            # The description as this user may read it (cases/privacy.py).
            [*(get(case) for _name, get in CSV_COLUMNS), description_for(request.user, case)]
            for case in cases.iterator(chunk_size=2000)
        ),
    )


def _first_named(numbers: list[str]) -> str:
    """The first REFUSED_CASES_NAMED case numbers, then how many more, in words (a "…"
    read "2026-000150、…" in Chinese)."""
    named = wording.join_names(numbers[:REFUSED_CASES_NAMED])
    more = len(numbers) - REFUSED_CASES_NAMED
    if more <= 0:
        return named
    return ngettext("%(numbers)s and %(more)d more", "%(numbers)s and %(more)d more", more) % {
        "numbers": named,
        "more": more,
    }
