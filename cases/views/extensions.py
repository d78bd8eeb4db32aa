"""The decision link of an extension-request email: no sign-in, the signed link is the key.

GET shows the request and a confirmation form (mail scanners follow links); the decision
happens on POST, then Post/Redirect/Get.
"""

from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from cases.forms import ExtensionDecisionForm
from cases.models import Case, ExtensionRequest
from cases.privacy import can_see_personal_data
from cases.services.extensions import (
    DecisionLinkError,
    extension_decide,
    extension_still_applies,
    read_decision_token,
)
from cases.services.transitions import WorkflowError


@never_cache  # a page of a link that acts for its recipient: no shared cache keeps it
@require_http_methods(["GET", "POST"])
def decide(request, token: str):
    try:
        request_pk, address = read_decision_token(token)
    except DecisionLinkError as error:
        status = 410 if error.reason == "expired" else 400
        # An expired link still names its case: the page links to its admin page, where a
        # signed-in supervisor decides.
        case = (
            Case.objects.filter(extension_requests__pk=error.pk).only("pk").first()
            if error.pk
            else None
        )
        return render(
            request,
            "cases/extensions/invalid.html",
            {"reason": error.reason, "case": case},
            status=status,
        )
    extension = (
        ExtensionRequest.objects.select_related("case__township", "case__category", "department")
        .filter(pk=request_pk)
        .first()
    )
    if extension is None:
        return render(request, "cases/extensions/invalid.html", {"reason": "invalid"}, status=404)
    form = ExtensionDecisionForm(request.POST or None)
    error = None
    if request.method == "POST" and form.is_valid():
        try:
            extension_decide(
                request=extension,
                approve=form.cleaned_data["decision"] == "approve",
                address=address,
                note=form.cleaned_data["note"],
            )
        except WorkflowError as refused:
            error = str(refused)
        else:
            return HttpResponseRedirect(request.path)
    return render(
        request,
        "cases/extensions/decide.html",
        {
            "extension": extension,
            "case": extension.case,
            "address": address,
            "form": form,
            "error": error,
            "applies": extension_still_applies(extension, extension.case),
            # The link is no sign-in: masked as in the email, unless whoever is signed in
            # reads the case's contacts anyway (cases/privacy.py).
            "sees_contacts": can_see_personal_data(request.user, extension.case),
        },
    )
