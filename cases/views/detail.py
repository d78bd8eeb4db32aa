"""One case: /cases/<number>/ and the POST of each transition, /cases/<number>/<transition>/."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from cases import refused_forms, trail_words
from cases.forms import (
    TRANSITION_FORMS,
    CaseNoteForm,
    CorrectionForm,
    PhotosForm,
    ReportForDutyForm,
    errors_in_one_line,
)
from cases.labels import transition_label
from cases.models import TERMINAL_STATES, Case, State
from cases.privacy import can_see_personal_data
from cases.selectors.access import cases_visible_to
from cases.selectors.deadlines import working_seconds_left
from cases.selectors.detail import (
    case_detail_for,
    case_to_act_on,
    dispatch_suggestions,
    routing_explanation,
)
from cases.selectors.lists import with_listed_assisting
from cases.selectors.trail import latest_step
from cases.services import workflow
from cases.services.corrections import may_correct
from cases.services.open311 import open311_report_for
from cases.services.photos import photo_room
from cases.services.privacy import Purpose, reporter_contact_for
from cases.services.transitions import (
    StaleCase,
    WorkflowError,
    available_transitions,
    may_fire,
    refusal,
)
from cases.time_words import stopped_clock_words, working_time_words
from cases.views.passed_on import told_when_passed_on
from departments import wording
from departments.models import User


@login_required
def case_detail(request, number):
    return _detail_page(request, case_detail_for(request.user, number))


def _detail_page(request, case):
    user = request.user
    # The user's department's summons still waiting for its report for duty (prefetched).
    summons = next(
        (
            assist
            for assist in case.assists.all()
            if user.has_role(User.Role.LIAISON)
            and assist.department_id == user.department_id
            and assist.summoned
            and assist.reported_at is None
            and case.state not in TERMINAL_STATES
        ),
        None,
    )
    names = available_transitions(case, request.user)
    # The departments a dispatch offers first, and why; quick picks beside the form. And
    # those the assist rules name, ticked to assist.
    dispatching = "dispatch" in names
    suggestions = dispatch_suggestions(case) if dispatching else []
    listed_assisting = with_listed_assisting([case])[0].listed_assisting if dispatching else ()
    # A transition refused for what was typed comes back bound to it, with its errors.
    kept = refused_forms.take(request, page=request.get_full_path())
    forms = [
        (
            name,
            transition_label(name, case),
            TRANSITION_FORMS[name](
                kept[1] if kept and kept[0] == name else None,
                case=case,
                user=request.user,
                auto_id=f"id_{name}_%s",
                **(
                    {
                        "suggested": [s.department for s in suggestions],
                        "listed_assisting": listed_assisting,
                        "returned_by": {s.department.pk for s in suggestions if s.returned},
                    }
                    if name == "dispatch"
                    else {}
                ),
            ),
        )
        for name in names
    ]
    # The dispatch form has a section of its own at the top, beside the routing reason.
    dispatch = next((entry for entry in forms if entry[0] == "dispatch"), None)
    events = trail_words.with_details(case.events.all())
    # What the department says it did, beside the verify and reopen forms: the caseworker
    # checks that on site (otherwise it is only at the foot of the timeline).
    resolution = (
        next((event for event in reversed(events) if event.action == "resolve"), None)
        if case.state == State.RESOLVED
        else None
    )
    return render(
        request,
        "cases/detail.html",
        {
            "case": case,
            # Masked unless this user calls reporters back; an unmasked view is logged.
            "reporter": reporter_contact_for(
                user=request.user, case=case, purpose=Purpose.VIEW, path=request.path
            ),
            "open311": open311_report_for(user=request.user, case=case, path=request.path),
            "routing": routing_explanation(case),
            "events": events,
            "resolution": resolution,
            "may_verify": "verify" in names,
            "assists": case.assists.all(),
            # Cancelled as its duplicates: the case that goes on said nothing of them.
            "duplicates": cases_visible_to(user)
            .filter(duplicate_of=case)
            .order_by("created_at", "id")
            .values("number"),
            "transition_forms": forms,
            "other_transition_forms": [entry for entry in forms if entry is not dispatch],
            "dispatch": dispatch,
            "suggestions": suggestions,
            "notes": case.notes.all(),
            "photos": case.photos.all(),
            # A note refused (a photo too many, say) comes back with its words.
            "note_form": CaseNoteForm(
                initial={"text": kept[1].get("text", "")} if kept and kept[0] == "note" else None,
                user=request.user,
                auto_id="id_note_%s",
            ),
            "photos_form": PhotosForm(auto_id="id_photos_%s"),
            "correction_form": (
                CorrectionForm(
                    # Back with the warning that it gives the case back to a department
                    # that returned it (`case_correct_view`): as chosen, to confirm.
                    kept[1] if kept and kept[0] == "correct" else None,
                    case=case,
                    user=request.user,
                    auto_id="id_correct_%s",
                )
                if may_correct(case, request.user)
                else None
            ),
            "sees_contacts": can_see_personal_data(request.user, case),
            # Room on this user's side: a department's fix has its own five.
            "photo_room": photo_room(case, request.user),
            "working_time": working_time_words(working_seconds_left(case), overdue=case.is_overdue),
            "stopped_clock": stopped_clock_words(case),
            "summons": summons,
            "duty_form": ReportForDutyForm(auto_id="id_duty_%s") if summons else None,
        },
    )


def _run(name: str, case, user, data: dict):
    """Call the workflow service of transition `name` with the form's cleaned data."""
    common = {"case": case, "actor": user, "expected_version": data["expected_version"]}
    if name == "dispatch":
        return workflow.case_dispatch(
            **common,
            lead=data["lead"],
            assisting=data["assisting"],
            whistle=data["whistle"],
            comment=data["comment"],
        )
    if name == "accept":
        return workflow.case_accept(**common)
    if name == "return":
        return workflow.case_return(**common, reason=data["reason"])
    if name == "resolve":
        return workflow.case_resolve(**common, note=data["note"])
    if name == "verify":
        return workflow.case_verify(
            **common, satisfaction=data["satisfaction"], comment=data["comment"]
        )
    if name == "reopen":
        return workflow.case_reopen(**common, reason=data["reason"])
    if name == "suspend":
        return workflow.case_suspend(**common, reason=data["reason"])
    if name == "resume":
        return workflow.case_resume(**common, comment=data["comment"])
    if name == "cancel":
        return workflow.case_cancel(
            **common, reason=data["reason"], duplicate_of=data["duplicate_of"]
        )
    raise Http404


@login_required
@require_POST
@told_when_passed_on("expected_version")
def case_transition(request, number, transition):
    if transition not in TRANSITION_FORMS:
        raise Http404
    case = case_to_act_on(request.user, number)
    form = TRANSITION_FORMS[transition](
        request.POST, case=case, user=request.user, auto_id=f"id_{transition}_%s"
    )
    # Before the step: a done arbitration leaves a case that no longer waits for one.
    label = transition_label(transition, case)
    next_url = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = ""
    # Redirected, not rendered at this POST-only address (a reload or the language switch
    # would ask for it again): on a refusal, the page it lands on shows what was typed.
    page = next_url or reverse("cases:detail", kwargs={"number": case.number})
    # A fragment says where to land once the step is done (the pool's next case); a refusal
    # lands at the top, where its message and the form kept for it are.
    refused_at = page.split("#", 1)[0]
    if not form.is_valid() and (refused := refusal(case, transition, request.user)):
        # Refused whatever was typed (a page left open while the case moved on): said so,
        # not as a field to fill in for a step the user cannot take.
        messages.error(
            request, _("Case %(number)s: %(error)s") % {"number": case.number, "error": refused}
        )
        return redirect(refused_at)
    if not form.is_valid():
        messages.error(
            request,
            # Which case: the pool's page posts here for each of its cases.
            _("Case %(number)s: “%(action)s” was not done: %(errors)s")
            % {"number": case.number, "action": label, "errors": errors_in_one_line(form)},
        )
        refused_forms.keep(request, form_name=transition, page=page, fresh=form.retry_values())
        return redirect(refused_at)
    else:
        try:
            _run(transition, case, request.user, form.cleaned_data)
        except (WorkflowError, ValidationError) as error:
            if isinstance(error, StaleCase):
                # Said with what happened meanwhile: another dispatcher's dispatch, say.
                changed = Case.objects.get(pk=case.pk)
                text = trail_words.changed_meanwhile_words(
                    changed,
                    latest_step(changed),
                    action=label,
                    still_possible=may_fire(changed, request.user, transition),
                )
            else:
                if isinstance(error, ValidationError):
                    reason = wording.join_clauses(error.messages)
                else:
                    reason = str(error)
                # Which case: the pool's page posts here for each of its cases.
                text = _("Case %(number)s: %(error)s") % {"number": case.number, "error": reason}
            messages.error(request, text)
            # The page shows the case as it is now (changed meanwhile, when that was the
            # refusal): what was typed is kept to act on that version, once read.
            current = Case.objects.filter(pk=case.pk).values_list("version", flat=True).first()
            refused_forms.keep(
                request, form_name=transition, page=page, fresh={"expected_version": current}
            )
            return redirect(refused_at)
        else:
            messages.success(
                request,
                _("Case %(number)s: “%(action)s” done; its state is now “%(state)s”.")
                % {"number": case.number, "action": label, "state": case.get_state_display()},
            )
            if not next_url and not cases_visible_to(request.user).filter(pk=case.pk).exists():
                # Passed on (a liaison's return to the pool): its page is no longer theirs
                # to see, and would answer "not found" under the message saying it was done.
                return redirect("cases:list")
    return redirect(page)
