"""The acknowledge link of an escalation email: no sign-in, the signed link is the key.

GET only shows a confirmation page (mail scanners and link previews follow links), the
acknowledgement happens on POST, and the page after it is a redirect (Post/Redirect/Get).
"""

from django.contrib import messages
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from cases.models import Case, Escalation
from cases.services.acknowledgement import (
    AckLinkError,
    address_withdrawn,
    escalation_acknowledge,
    read_ack_token,
)


@never_cache  # a page of a link that acts for its recipient: no shared cache keeps it
@require_http_methods(["GET", "POST"])
def acknowledge(request, token: str):
    try:
        escalation_pk, address = read_ack_token(token)
    except AckLinkError as error:
        status = 410 if error.reason == "expired" else 400
        # An expired link still names its case: the page links to it (a sign-in acts there).
        case = (
            Case.objects.filter(escalations__pk=error.pk).only("number").first()
            if error.pk
            else None
        )
        return render(
            request,
            "cases/escalation_ack_invalid.html",
            {"reason": error.reason, "case": case},
            status=status,
        )
    escalation = (
        Escalation.objects.select_related(
            "case__category", "case__township", "department", "township"
        )
        .filter(pk=escalation_pk)
        .first()
    )
    if escalation is None:
        return render(
            request, "cases/escalation_ack_invalid.html", {"reason": "invalid"}, status=404
        )
    if request.method == "POST":
        try:
            acknowledgement = escalation_acknowledge(escalation_pk=escalation.pk, address=address)
        except AckLinkError:
            return _withdrawn(request)
        # The page redirected to names who acknowledged and when, alike either way: the
        # message tells whoever pressed the button whether their press counted.
        if acknowledgement.done_now:
            messages.success(
                request, _("Acknowledged: recorded in the case's audit trail with this address.")
            )
        else:
            messages.info(
                request,
                _(
                    "Nothing was recorded: this escalation had been acknowledged before"
                    " you confirmed."
                ),
            )
        return HttpResponseRedirect(request.path)
    if address_withdrawn(address):
        return _withdrawn(request)
    return render(
        request,
        "cases/escalation_ack.html",
        {"escalation": escalation, "case": escalation.case, "address": address},
    )


def _withdrawn(request):
    """A link whose address escalations no longer go to (acknowledgement.address_withdrawn)."""
    return render(request, "cases/escalation_ack_invalid.html", {"reason": "withdrawn"}, status=403)
