"""The buttons of a case's admin page at work: the forms the page offers (`button_forms`)
and the admin URL each one POSTs to (`button_view`), which checks the form and runs the
button's service with the version the page showed. What each button is, says and runs is
in `cases/admin/buttons.py`."""

from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseRedirect
from django.urls import reverse
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.views.decorators.http import require_POST

from cases import refused_forms, trail_words
from cases.admin.buttons import BUTTONS, PageState
from cases.forms import errors_in_one_line
from cases.models import Case
from cases.selectors.access import case_passed_on
from cases.selectors.trail import latest_step
from cases.services.transitions import StaleCase, WorkflowError, refusal
from departments import wording
from departments.routing import written_id


def button_forms(model_admin, request, case) -> list[dict]:
    """The forms of the buttons this user is offered on `case`'s change page, each with
    what a refused press of it typed, and the URL it posts to."""
    if not model_admin.may_act(request):
        return []
    page = PageState.of(case, request.user)
    # What was typed into a refused press of a button comes back in that button's form.
    kept = refused_forms.take(request, page=request.path)
    return [
        {
            "name": button.name,
            "label": button.label,
            "note": button.note(page),
            "form": button.form(
                kept[1] if kept and kept[0] == button.name else None,
                initial=button.initial(page),
                auto_id=f"id_{button.name}_%s",
                **button.form_kwargs(case),
            ),
            "url": reverse(
                f"{model_admin.admin_site.name}:cases_case_act", args=[case.pk, button.name]
            ),
        }
        for button in BUTTONS.values()
        if button.offered(page)
    ]


def button_view(request, object_id, name, *, model_admin):
    """The admin URL a button posts to (`<case>/act/<button>/`)."""
    if request.method in ("GET", "HEAD"):
        # A button pressed once the session had ended comes back here as a GET after
        # signing in again (the login's `next`): show the case as it is now, rather
        # than a blank 405, and do nothing (as /cases/ does: cases.views.sign_in).
        case = model_admin.get_object(request, unquote(object_id))
        return HttpResponseRedirect(
            reverse(f"{model_admin.admin_site.name}:cases_case_change", args=[case.pk])
        )
    return _press(request, object_id, name, model_admin=model_admin)


@require_POST
def _press(request, object_id, name, *, model_admin):
    button = BUTTONS.get(name)
    if button is None:
        raise Http404(gettext("No such action."))
    try:
        case = model_admin.get_object(request, unquote(object_id))
    except Http404:
        pk = written_id(unquote(object_id))
        passed_on = pk and case_passed_on(request.user, request.POST.get("version"), pk=pk)
        if not passed_on:
            raise
        messages.error(request, trail_words.passed_on_words(passed_on))
        return HttpResponseRedirect(reverse(f"{model_admin.admin_site.name}:cases_case_changelist"))
    if not (model_admin.has_view_permission(request, case) and model_admin.may_act(request)):
        raise PermissionDenied
    form = button.form(request.POST, request.FILES, **button.form_kwargs(case))
    change_page = reverse(f"{model_admin.admin_site.name}:cases_case_change", args=[case.pk])
    back = HttpResponseRedirect(change_page)
    if not form.is_valid() and (
        refused := button.transition and refusal(case, button.transition, request.user)
    ):
        # Refused whatever was typed (a page left open while the case moved on): said so,
        # not as a field to fill in for a step the user cannot take.
        _refuse(request, case, str(refused))
        return back
    if not form.is_valid():
        _refuse(request, case, errors_in_one_line(form))
        refused_forms.keep(request, form_name=name, page=change_page, fresh=form.retry_values())
        return back
    try:
        outcome = button.run(case=case, actor=request.user, data=form.cleaned_data)
    except WorkflowError as error:
        # The page shows the case as it is now (changed meanwhile, when that was the
        # refusal): what was typed is kept to act on that version, once read.
        if isinstance(error, StaleCase):
            # Said with what happened meanwhile, as the case page says it.
            changed = Case.objects.get(pk=case.pk)
            messages.error(
                request,
                trail_words.changed_meanwhile_words(
                    changed,
                    latest_step(changed),
                    action=capfirst(button.label),
                    still_possible=button.offered(PageState.of(changed, request.user)),
                ),
            )
        else:
            _refuse(request, case, str(error))
        current = Case.objects.filter(pk=case.pk).values_list("version", flat=True).first()
        refused_forms.keep(request, form_name=name, page=change_page, fresh={"version": current})
        return back
    except ValidationError as error:  # the input again (a photo that is no image…)
        _refuse(request, case, wording.join_clauses(error.messages))
        refused_forms.keep(request, form_name=name, page=change_page)
        return back
    messages.success(
        request,
        outcome
        or gettext("Case %(number)s: %(action)s done.") % {"number": case, "action": button.label},
    )
    if not model_admin.get_queryset(request).filter(pk=case.pk).exists():
        # Out of this user's sight now (returned to the pool): back to the list, not
        # to a page that would say there is no such case.
        return HttpResponseRedirect(reverse(f"{model_admin.admin_site.name}:cases_case_changelist"))
    return back


def _refuse(request, case, text):
    messages.error(request, gettext("Case %(number)s: %(error)s") % {"number": case, "error": text})
