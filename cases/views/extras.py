"""What a case page does besides transitions: notes, photos, the dispatcher's correction."""

import mimetypes

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from cases import refused_forms
from cases.forms import (
    CaseNoteForm,
    CorrectionForm,
    PhotosForm,
    ReportForDutyForm,
    errors_in_one_line,
)
from cases.models import CasePhoto, State
from cases.selectors.access import cases_visible_to
from cases.selectors.detail import case_to_act_on
from cases.services.corrections import case_correct, return_by_new_lead
from cases.services.liaison import assist_report_for_duty
from cases.services.notes import case_add_note
from cases.services.photo_checks import copies_left_out
from cases.services.photos import case_add_photos
from cases.services.transitions import WorkflowError
from cases.views.passed_on import told_when_passed_on
from departments.models import Department
from departments.wording import join_clauses


def _errors(error: ValidationError) -> str:
    return join_clauses(error.messages)


@login_required
@require_POST
@told_when_passed_on()
def case_note_add(request, number):
    case = case_to_act_on(request.user, number)
    form = CaseNoteForm(request.POST, request.FILES, user=request.user)
    problem, left_out = None, 0
    if set(form.errors) == {"text"} and form.has_error("text", "required"):  # the usual slip
        problem = _("write something first.")
    elif form.errors:  # a file that is no photo, kept photos gone: say which
        problem = join_clauses(form.errors.get("held_photos", [])) or errors_in_one_line(form)
    else:
        given = [*form.cleaned_data["photos"], *form.cleaned_data["held_photos"]]
        try:
            _note, stored = case_add_note(
                case=case,
                author=request.user,
                text=form.cleaned_data["text"],
                photos=form.cleaned_data["photos"],
                held_photos=form.cleaned_data["held_photos"],
            )
        except ValidationError as error:
            problem = _errors(error)
        else:
            left_out = len(given) - len(stored)
    if problem is None:
        messages.success(request, _("Your note was added."))
        if left_out:
            messages.info(request, copies_left_out(left_out))
    else:
        messages.error(request, _("The note was not added: %(e)s") % {"e": problem})
        # The case page gives the note's words back (not its files: a browser takes none).
        refused_forms.keep(
            request, form_name="note", page=reverse("cases:detail", args=[case.number])
        )
    return redirect("cases:detail", number=case.number)


@login_required
@require_POST
@told_when_passed_on()
def case_photos_add(request, number):
    case = case_to_act_on(request.user, number)
    form = PhotosForm(request.POST, request.FILES)
    if not form.is_valid():  # an empty or broken file: say so, not "choose one"
        messages.error(request, _("No photo was added: %(e)s") % {"e": errors_in_one_line(form)})
        return redirect("cases:detail", number=case.number)
    uploads = form.cleaned_data["photos"]
    if not uploads:
        messages.error(request, _("Choose one or more photos first."))
        return redirect("cases:detail", number=case.number)
    try:
        stored = case_add_photos(case=case, uploaded_by=request.user, uploads=uploads)
    except ValidationError as error:
        messages.error(request, _("No photo was added: %(e)s") % {"e": _errors(error)})
    else:
        if stored:  # none when every picture was on the case already
            messages.success(request, _("The photos were added."))
        if len(stored) < len(uploads):
            messages.info(request, copies_left_out(len(uploads) - len(stored)))
    return redirect("cases:detail", number=case.number)


@login_required
@require_GET
def case_photo(request, number, photo_id):
    """Serve a photo only to those who may see its case; never from a public URL."""
    photo = get_object_or_404(
        CasePhoto.objects.filter(case__in=cases_visible_to(request.user)),
        pk=photo_id,
        case__number=number,
    )
    try:
        handle = photo.image.open("rb")
    except FileNotFoundError as error:
        raise Http404 from error
    content_type = photo.content_type or mimetypes.guess_type(photo.image.name)[0]
    response = FileResponse(handle, content_type=content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, max-age=3600"
    response["Content-Disposition"] = "inline"
    return response


@login_required
@require_POST
@told_when_passed_on("expected_version")
def case_correct_view(request, number):
    case = case_to_act_on(request.user, number)
    form = CorrectionForm(request.POST, case=case, user=request.user)
    if not form.is_valid():
        # Which field and why: the form is a pair of pickers, and nothing on the page
        # would otherwise show what was refused.
        messages.error(
            request,
            _("The correction was not saved: %(e)s") % {"e": errors_in_one_line(form)},
        )
        return redirect("cases:detail", number=case.number)
    returned = return_by_new_lead(
        case, category=form.cleaned_data["category"], cell=form.cleaned_data["cell"]
    )
    returner = returned.data["returned_by"] if returned else None
    if returner is not None and form.cleaned_data["returner_agreed"] != returner:
        # Not refused: the form comes back with the choice and the warning, and sent again
        # as it is, the correction goes through.
        detail = reverse("cases:detail", kwargs={"number": case.number})
        refused_forms.keep(
            request, form_name="correct", page=detail, fresh={"returner_agreed": returner}
        )
        messages.warning(request, _back_to_returner(case, returned))
        return redirect(f"{detail}#correct")
    try:
        case_correct(
            case=case,
            actor=request.user,
            category=form.cleaned_data["category"],
            cell=form.cleaned_data["cell"],
            expected_version=form.cleaned_data["expected_version"],
        )
    except WorkflowError as error:
        messages.error(
            request, _("Case %(number)s: %(error)s") % {"number": case.number, "error": error}
        )
    else:
        messages.success(
            request,
            _("Case %(number)s was corrected and routed again; its state is now “%(state)s”.")
            % {"number": case.number, "state": case.get_state_display()},
        )
    return redirect("cases:detail", number=case.number)


def _back_to_returner(case, returned) -> str:
    """The warning before a correction that gives `case` back to the department that
    returned it (`returned`, its return): who, when and why, and what else to do."""
    values = {
        "number": case.number,
        "department": Department.objects.get(pk=returned.data["returned_by"]),
        "when": date_format(timezone.localtime(returned.at), "SHORT_DATETIME_FORMAT"),
        "reason": returned.comment,
    }
    if case.state == State.FALLBACK:
        return (
            _(
                "Case %(number)s is not corrected yet: so corrected, it goes straight back to"
                " %(department)s, which returned it on %(when)s: “%(reason)s”. To send it there"
                " anyway, press “Correct anyway”; otherwise choose another category or cell,"
                " or dispatch it to another department."
            )
            % values
        )
    return (
        _(
            "Case %(number)s is not corrected yet: so corrected, it goes straight back to"
            " %(department)s, which returned it on %(when)s: “%(reason)s”. To send it there"
            " anyway, press “Correct anyway”; otherwise choose another category or cell."
        )
        % values
    )


@login_required
@require_POST
@told_when_passed_on()
def case_report_for_duty(request, number):
    """A summoned department's liaison reports for duty (报到) from the case page."""
    case = case_to_act_on(request.user, number)
    form = ReportForDutyForm(request.POST)
    if not form.is_valid():
        messages.error(request, errors_in_one_line(form))
        return redirect("cases:detail", number=case.number)
    try:
        assist_report_for_duty(case=case, actor=request.user, comment=form.cleaned_data["comment"])
    except WorkflowError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("Your department reported for duty."))
    return redirect("cases:detail", number=case.number)
