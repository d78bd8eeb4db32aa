"""The supervision page of the admin: per department and period, return, extension and
reopen figures and time to accept, each linked to the audit rows behind it."""

from datetime import timedelta
from urllib.parse import urlencode

from django import forms
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from cases.forms import period_date_field
from cases.models import State, SupervisionMark
from cases.permissions import may_see_dashboard
from cases.selectors.access import supervised_township_id
from cases.selectors.dashboard import DEFAULT_PERIOD_DAYS, Period
from cases.selectors.supervision import department_figures
from cases.services.rollups import refreshed_as_of
from cases.services.supervision import supervision_refresh


class PeriodForm(forms.Form):
    start = period_date_field(_("From"), required=True)
    end = period_date_field(_("To (inclusive)"), required=True)

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end") and data["start"] > data["end"]:
            raise forms.ValidationError(_("The period ends before it starts."))
        return data


def supervision_view(request, *, model_admin):
    # The dashboard's readers: supervisors and administrators.
    if not may_see_dashboard(request.user):
        raise PermissionDenied
    # A township's supervisor counts their township's cases, as the linked audit rows show.
    township_id = supervised_township_id(request.user)
    today = timezone.localdate()
    default_start = today - timedelta(days=DEFAULT_PERIOD_DAYS - 1)
    form = PeriodForm(request.GET or {"start": default_start, "end": today})
    figures, as_of, building = [], None, False
    if form.is_valid():
        first, last = form.cleaned_data["start"], form.cleaned_data["end"]
        start, end = Period(first, last).bounds
        # Up to date before reading: today's figures hold the steps taken so far today.
        # Unless another refresh is under way (the beat's first build after an upgrade
        # counts every audit row, longer than a page may wait): then what the roll-up has,
        # as of its last refresh, or, before its first, no figures rather than zeros.
        if supervision_refresh(wait=False) is None:
            as_of = refreshed_as_of(SupervisionMark)
            building = as_of is None
        if not building:
            figures = department_figures(first=first, last=last, township_id=township_id)
        audit = reverse(f"{model_admin.admin_site.name}:cases_caseevent_changelist")
        requests = reverse(f"{model_admin.admin_site.name}:cases_extensionrequest_changelist")

        def requests_link(pk, status=""):
            query = {
                "department__id__exact": pk,
                "created_at__gte": start.isoformat(),
                "created_at__lt": end.isoformat(),
            }
            if status:
                query["status__exact"] = status
            return f"{requests}?{urlencode(query)}"

        for figure in figures:

            def link(action, pk=figure.department.pk, **more):
                query = {"department": pk, "at__gte": start.isoformat(), "at__lt": end.isoformat()}
                query.update(action=action, **more)
                return f"{audit}?{urlencode(query)}"

            figure.links = {
                "given": link("route,dispatch,correct", to_state=State.ASSIGNED),
                "returns": link("return"),
                "accepts": link("accept"),
                "reopens": link("reopen"),
                "extensions": requests_link(figure.department.pk),
                "extensions_approved": requests_link(figure.department.pk, "approved"),
            }
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": gettext("Supervision of departments"),
        "form": form,
        "figures": figures,
        "as_of": as_of,
        "building": building,
        "township": request.user.township if township_id is not None else None,
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, "admin/cases/supervision.html", context)
