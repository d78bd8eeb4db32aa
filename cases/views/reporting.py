"""Reporting a case: /cases/new/."""

import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from cases.forms import ReportForm
from cases.models import Case, HeldPhoto, Urgency
from cases.permissions import may_report
from cases.selectors.cells import cells_geojson
from cases.selectors.lists import possible_duplicates
from cases.services.held_photos import held_as_cleaned, photos_hold
from cases.services.intake import is_same_report, replayed_case
from cases.services.photo_checks import copies_left_out
from cases.services.photos import case_report_with_photos, photos_new_to
from departments.routing import get_index


@login_required
def case_new(request):
    if not may_report(request.user):
        raise PermissionDenied(_("Only township staff and supervisors report cases."))
    # A report reads the routing stamp once: the form looks the category and the cell up in
    # the router's index, and the report is placed and routed with the same index.
    index = get_index() if request.method == "POST" else None
    form = ReportForm(request.POST or None, request.FILES or None, user=request.user, index=index)
    duplicates = []
    scope = f"user:{request.user.pk}"
    if request.method == "POST" and not form.is_valid() and "held_photos" in form.errors:
        # Sent twice after the duplicate screen: the first submission took the held photos
        # with it, so this one finds them gone. Sent as it was: show the case it made; with
        # other fields or photos: the form again, as below.
        first = replayed_case(scope=scope, key=str(form.cleaned_data.get("idempotency_key") or ""))
        if first is not None:
            if _sent_as_it_was(first, form.cleaned_data):
                return _already_sent(request, first)
            return _report_page(request, _edited_after_sending(request, first, index=index))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        first = None  # the case this form's key already reported, if it did
        if not data["confirm_new"]:
            # Sent twice: show the first case rather than offering it as a duplicate. A
            # confirmed report needs no such look: its key's claim finds the first case.
            first = replayed_case(scope=scope, key=str(data["idempotency_key"] or ""))
            if first is None:
                duplicates = list(
                    possible_duplicates(request.user, category=data["category"], cell=data["cell"])
                )
        if first is None and not duplicates:
            try:
                case = case_report_with_photos(
                    cleaned_photos=data["photos"],
                    held_photos=data["held_photos"],
                    reporter=request.user,
                    reporter_name=data["reporter_name"],
                    reporter_phone=data["reporter_phone"],
                    idempotency_key=str(data["idempotency_key"] or ""),
                    idempotency_scope=scope,
                    index=index,
                    **_reported_fields(data),
                )
            except ValidationError as error:
                form.add_error(None, error)
            else:
                if not case.is_replay:
                    messages.success(
                        request, _("Case %(number)s was reported.") % {"number": case.number}
                    )
                    attached = len(data["photos"]) + len(data["held_photos"])
                    if attached > 1 and (stored := case.photos.count()) < attached:
                        messages.info(request, copies_left_out(attached - stored))
                    return redirect("cases:detail", number=case.number)
                first = case
        if first is not None:
            if _sent_as_it_was(first, data):
                return _already_sent(request, first)
            form = _edited_after_sending(request, first, index=index)
    return _report_page(request, form, duplicates)


def _report_page(request, form: ReportForm, duplicates=()):
    return render(
        request,
        "cases/new.html",
        {
            "form": form,
            "duplicates": duplicates,
            "note_text": _note_from_report(form.cleaned_data) if duplicates else "",
            "held_photos": _photos_to_carry(request, form),
            "cells": cells_geojson(request.user.township_id),
            "map_options": {"tileUrl": getattr(settings, "MAP_TILE_URL", "")},
        },
    )


def _note_from_report(data: dict) -> str:
    """A report added to a case it duplicates, as that case's note: its words, and where
    and how urgent when the report says. The reporter's contact stays out: every reader of
    the case's notes would see it unmasked."""
    lines = [data["description"]]
    if data.get("address"):
        lines.append(_("Address: %(address)s") % {"address": data["address"]})
    if data.get("urgency") and data["urgency"] != Urgency.NORMAL:
        lines.append(_("Urgency: %(urgency)s") % {"urgency": Urgency(data["urgency"]).label})
    return "\n".join(lines)


# What `case_report` is told of the place and the problem: a form sent again with other
# values (or other photos: `_sent_as_it_was`) is another report (`is_same_report`).
REPORTED_FIELDS = ("category", "cell", "lat", "lng", "address", "description", "urgency")


def _reported_fields(data: dict) -> dict:
    return {name: data[name] for name in REPORTED_FIELDS}


def _sent_as_it_was(first: Case, data: dict) -> bool:
    """Whether the form sent again (its cleaned data) is the report that made `first`: the
    same fields, and no photo `first` lacks (photos added or swapped after going Back make
    another report, which must not vanish into the first case). A field that did not clean
    (an error on the form sent again) reads as changed."""
    if any(name not in data for name in REPORTED_FIELDS):
        return False
    sent_photos = [*data.get("photos", ()), *held_as_cleaned(data.get("held_photos") or ())]
    return is_same_report(first, **_reported_fields(data)) and not photos_new_to(first, sent_photos)


def _edited_after_sending(request, first: Case, *, index) -> ReportForm:
    """The form shown again, as the reporter changed it after it was sent (the browser's
    Back, then Send): under a fresh key, to be sent as a new case, or left for a note on
    the first one. Nothing the reporter typed is lost, nor taken as a second case unasked."""
    data = request.POST.copy()
    data["idempotency_key"] = str(uuid.uuid4())
    # The photos held for the first sending went to the first case: their ids, gone, would
    # only bring a "photos are gone" error back.
    data.setlist("held_photos", _still_held(request.user, data.getlist("held_photos")))
    again = ReportForm(data, request.FILES or None, user=request.user, index=index)
    again.is_valid()
    messages.warning(
        request,
        _(
            "This form was already sent: it reported case %(number)s. What you changed since "
            "was not saved. To report it as another case, check it below and send it again; "
            "to correct case %(number)s, add a note on its page."
        )
        % {"number": first.number},
    )
    return again


def _still_held(user, ids: list[str]) -> list[str]:
    """Of the held photos' `ids` a page carried, those `user` still holds."""
    wanted = []
    for value in ids:
        try:
            wanted.append(uuid.UUID(value))
        except ValueError:
            continue
    if not wanted:
        return []
    held = HeldPhoto.objects.filter(held_by=user, pk__in=wanted).values_list("pk", flat=True)
    return [str(pk) for pk in held]


def _already_sent(request, first: Case):
    messages.info(request, _("This form was already sent: case %(number)s.") % {"number": first})
    return redirect("cases:detail", number=first.number)


def _photos_to_carry(request, form: ReportForm) -> list[HeldPhoto]:
    """The photos the page shown again carries as hidden ids: those held before, and those
    just uploaded, held now (a browser cannot be handed files back); of a batch with a bad
    file, the good ones; each picture once."""
    if not form.is_bound:
        return []
    carried = list(form.cleaned_data.get("held_photos") or ())
    uploaded = form.cleaned_data.get("photos") or getattr(form, "photos_passing", ())
    if uploaded:
        held = photos_hold(user=request.user, cleaned=uploaded, beside=carried)
        if len(held) < len(uploaded):
            messages.info(request, copies_left_out(len(uploaded) - len(held)))
        carried += held
    return carried
